package cdc

import "bytes"

// arrayDecoder returns a decoder for arrays in PostgreSQL's text format
// ("{1,2,NULL}", "{{a,b},{c,d}}", optionally prefixed by bounds such as
// "[0:1]=") whose elements are read by elem. The value is an []any of
// element values, nested for each dimension; NULL elements are nil. Text
// that is not a well-formed array becomes a string.
func arrayDecoder(elem valueDecoder, delim byte) valueDecoder {
	return func(src []byte) any {
		p := arrayParser{src: src, elem: elem, delim: delim}
		if len(p.src) > 0 && p.src[0] == '[' {
			i := bytes.IndexByte(p.src, '=')
			if i < 0 {
				return string(src)
			}
			p.src = p.src[i+1:]
		}
		v, ok := p.array(0)
		if !ok || len(bytes.TrimSpace(p.src)) != 0 {
			return string(src)
		}
		return v
	}
}

// maxArrayDepth bounds nesting (PostgreSQL allows 6 dimensions).
const maxArrayDepth = 6

type arrayParser struct {
	src   []byte
	elem  valueDecoder
	delim byte
	buf   []byte
}

func (p *arrayParser) skipSpace() {
	for len(p.src) > 0 && (p.src[0] == ' ' || p.src[0] == '\t' || p.src[0] == '\n' || p.src[0] == '\r') {
		p.src = p.src[1:]
	}
}

// array parses "{...}" at the start of p.src.
func (p *arrayParser) array(depth int) ([]any, bool) {
	p.skipSpace()
	if depth >= maxArrayDepth || len(p.src) == 0 || p.src[0] != '{' {
		return nil, false
	}
	p.src = p.src[1:]
	out := []any{}
	p.skipSpace()
	if len(p.src) > 0 && p.src[0] == '}' {
		p.src = p.src[1:]
		return out, true
	}
	for {
		v, ok := p.element(depth)
		if !ok {
			return nil, false
		}
		out = append(out, v)
		p.skipSpace()
		if len(p.src) == 0 {
			return nil, false
		}
		c := p.src[0]
		p.src = p.src[1:]
		switch c {
		case '}':
			return out, true
		case p.delim:
		default:
			return nil, false
		}
	}
}

func (p *arrayParser) element(depth int) (any, bool) {
	p.skipSpace()
	if len(p.src) == 0 {
		return nil, false
	}
	switch p.src[0] {
	case '{':
		return p.array(depth + 1)
	case '"':
		return p.quoted()
	}
	return p.unquoted()
}

func (p *arrayParser) quoted() (any, bool) {
	p.buf = p.buf[:0]
	for i := 1; i < len(p.src); i++ {
		switch c := p.src[i]; c {
		case '\\':
			i++
			if i == len(p.src) {
				return nil, false
			}
			p.buf = append(p.buf, p.src[i])
		case '"':
			p.src = p.src[i+1:]
			return p.elem(p.buf), true
		default:
			p.buf = append(p.buf, c)
		}
	}
	return nil, false
}

func (p *arrayParser) unquoted() (any, bool) {
	p.buf = p.buf[:0]
	i := 0
	for ; i < len(p.src); i++ {
		c := p.src[i]
		if c == p.delim || c == '}' || c == '{' || c == '"' {
			break
		}
		if c == '\\' {
			i++
			if i == len(p.src) {
				return nil, false
			}
			c = p.src[i]
		}
		p.buf = append(p.buf, c)
	}
	p.src = p.src[i:]
	tok := bytes.TrimRight(p.buf, " \t\n\r")
	if len(tok) == 0 {
		return nil, false
	}
	if len(tok) == 4 && bytes.EqualFold(tok, []byte("NULL")) {
		return nil, true
	}
	return p.elem(tok), true
}
