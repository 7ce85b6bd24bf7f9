package cdc

import (
	"context"
	"fmt"
)

// decoder turns pgoutput (protocol version 1) messages into the values a
// Handler receives. It keeps the relation cache and the state of the open
// transaction. It is used by one goroutine.
type decoder struct {
	types *typeResolver
	rels  map[uint32]*Relation
	inTxn bool
	index int
}

func newDecoder(types *typeResolver) *decoder {
	return &decoder{types: types, rels: make(map[uint32]*Relation)}
}

// decode decodes one pgoutput message. It returns a *Begin, *Change or
// *Commit to hand to the Handler, or nil for a message that produces nothing
// (Relation, Type, Origin, a non-transactional logical message). Values in
// the result never alias data.
func (d *decoder) decode(ctx context.Context, data []byte) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("decode pgoutput message: empty message")
	}
	r := &reader{b: data[1:]}
	var out any
	var err error
	switch data[0] {
	case 'B':
		out = d.begin(r)
	case 'C':
		var c *Commit
		if c, err = d.commit(r); c != nil {
			out = c
		}
	case 'R':
		err = d.relation(ctx, r)
	case 'I', 'U', 'D':
		out, err = change(d.rowChange(data[0], r))
	case 'T':
		out, err = change(d.truncate(r))
	case 'M':
		out, err = change(d.message(r))
	case 'Y', 'O':
		// Type and Origin messages: types are resolved through pg_type,
		// origins are not used.
	default:
		err = fmt.Errorf("unknown message type %q", data[0])
	}
	if err == nil {
		err = r.err
	}
	if err != nil {
		return nil, fmt.Errorf("decode pgoutput message %q: %w", data[0], err)
	}
	return out, nil
}

// change returns c as an any that is nil when c is.
func change(c *Change, err error) (any, error) {
	if c == nil {
		return nil, err
	}
	return c, err
}

func (d *decoder) begin(r *reader) *Begin {
	b := &Begin{CommitLSN: r.lsn(), CommitTime: r.time(), Xid: r.u32()}
	d.inTxn, d.index = true, 0
	return b
}

func (d *decoder) commit(r *reader) (*Commit, error) {
	if !d.inTxn {
		return nil, fmt.Errorf("commit outside a transaction")
	}
	r.u8() // flags, unused
	c := &Commit{CommitLSN: r.lsn(), EndLSN: r.lsn(), CommitTime: r.time()}
	d.inTxn = false
	return c, nil
}

// reset forgets the open transaction, after a lost connection.
func (d *decoder) reset() { d.inTxn, d.index = false, 0 }

func (d *decoder) relation(ctx context.Context, r *reader) error {
	rel := &Relation{ID: r.u32(), Schema: r.str(), Name: r.str(), ReplicaIdentity: r.u8()}
	n := int(r.u16())
	if n > len(r.b) {
		r.fail()
		return nil
	}
	rel.Columns = make([]Column, n)
	for i := range rel.Columns {
		flags := r.u8()
		rel.Columns[i] = Column{Key: flags&1 != 0, Name: r.str(), TypeOID: r.u32(), TypeMod: int32(r.u32())}
	}
	if r.err != nil {
		return nil
	}
	if rel.Schema == "" {
		rel.Schema = "pg_catalog"
	}
	dec, err := d.types.columnDecoders(ctx, rel.Columns)
	if err != nil {
		return fmt.Errorf("relation %s: %w", rel.QualifiedName(), err)
	}
	rel.dec = dec
	d.rels[rel.ID] = rel
	return nil
}

func (d *decoder) lookup(id uint32) (*Relation, error) {
	rel := d.rels[id]
	if rel == nil {
		return nil, fmt.Errorf("change for relation %d before its Relation message", id)
	}
	return rel, nil
}

func (d *decoder) next(kind Kind) (*Change, error) {
	if !d.inTxn {
		return nil, fmt.Errorf("%s outside a transaction", kind)
	}
	c := &Change{Kind: kind, Index: d.index}
	d.index++
	return c, nil
}

func (d *decoder) rowChange(tag byte, r *reader) (*Change, error) {
	rel, err := d.lookup(r.u32())
	if err != nil || r.err != nil {
		return nil, err
	}
	kind := Insert
	switch tag {
	case 'U':
		kind = Update
	case 'D':
		kind = Delete
	}
	c, err := d.next(kind)
	if err != nil {
		return nil, err
	}
	c.Relation = rel
	t := r.u8()
	if kind != Insert && (t == 'K' || t == 'O') {
		c.OldIsKey = t == 'K'
		if c.Old, err = tuple(r, rel); err != nil {
			return nil, err
		}
		if kind == Delete {
			return c, nil
		}
		t = r.u8()
	}
	if kind == Delete || t != 'N' {
		return nil, fmt.Errorf("%s of %s: unexpected tuple type %q", kind, rel.QualifiedName(), t)
	}
	if c.New, err = tuple(r, rel); err != nil {
		return nil, err
	}
	return c, nil
}

func (d *decoder) truncate(r *reader) (*Change, error) {
	n := r.u32()
	r.u8() // options (CASCADE, RESTART IDENTITY), unused
	if uint64(n)*4 > uint64(len(r.b)) {
		r.fail()
		return nil, nil
	}
	c, err := d.next(Truncate)
	if err != nil {
		return nil, err
	}
	c.Relations = make([]*Relation, n)
	for i := range c.Relations {
		if c.Relations[i], err = d.lookup(r.u32()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (d *decoder) message(r *reader) (*Change, error) {
	transactional := r.u8()&1 != 0
	r.lsn()
	prefix := r.str()
	content := r.bytes(r.u32())
	if !transactional || r.err != nil {
		return nil, nil
	}
	c, err := d.next(Message)
	if err != nil {
		return nil, err
	}
	c.Prefix, c.Content = prefix, append([]byte(nil), content...)
	return c, nil
}

// tuple decodes a TupleData into a Row of rel's column values.
func tuple(r *reader, rel *Relation) (Row, error) {
	n := int(r.u16())
	if r.err != nil {
		return nil, nil
	}
	if n != len(rel.Columns) {
		return nil, fmt.Errorf("tuple of %s has %d columns, its relation %d", rel.QualifiedName(), n, len(rel.Columns))
	}
	row := make(Row, n)
	for i := range row {
		switch k := r.u8(); k {
		case 'n':
		case 'u':
			row[i] = Unchanged{}
		case 't':
			src := r.bytes(r.u32())
			if r.err != nil {
				return nil, nil
			}
			row[i] = rel.dec[i](src)
		case 'b':
			row[i] = append([]byte(nil), r.bytes(r.u32())...)
		default:
			if r.err != nil {
				return nil, nil
			}
			return nil, fmt.Errorf("tuple of %s: column %d has unknown kind %q", rel.QualifiedName(), i, k)
		}
	}
	return row, nil
}
