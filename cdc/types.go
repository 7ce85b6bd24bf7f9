package cdc

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"
)

// pgType is what walhook needs to know of a type that pgx's type map does
// not: its row in pg_type.
type pgType struct {
	Type     byte   // typtype: b base, d domain, e enum, c composite, r range, m multirange, p pseudo
	Base     uint32 // typbasetype, for a domain
	Elem     uint32 // typelem, for an array
	Delim    byte   // typdelim
	Category byte   // typcategory: 'A' for arrays
}

// typeLookup reads a type's pg_type row.
type typeLookup func(ctx context.Context, oid uint32) (pgType, error)

// typeResolver chooses the valueDecoder of each column type, once per type:
// built-in types from pgx's type map, others (enums, domains, arrays of
// those, extension types) from pg_type through lookup. A resolver without
// lookup reads every unknown type as text. It is used by one goroutine.
type typeResolver struct {
	m      *pgtype.Map
	lookup typeLookup
	cache  map[uint32]valueDecoder
}

func newTypeResolver(lookup typeLookup) *typeResolver {
	return &typeResolver{m: pgtype.NewMap(), lookup: lookup, cache: make(map[uint32]valueDecoder)}
}

// columnDecoders returns the decoder of each column, in order.
func (tr *typeResolver) columnDecoders(ctx context.Context, cols []Column) ([]valueDecoder, error) {
	dec := make([]valueDecoder, len(cols))
	for i, c := range cols {
		d, err := tr.decoder(ctx, c.TypeOID, 0)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		dec[i] = d
	}
	return dec, nil
}

// maxTypeDepth bounds the domain/array chain followed for one type.
const maxTypeDepth = 8

func (tr *typeResolver) decoder(ctx context.Context, oid uint32, depth int) (valueDecoder, error) {
	if d, ok := tr.cache[oid]; ok {
		return d, nil
	}
	d, err := tr.resolve(ctx, oid, depth)
	if err != nil {
		return nil, err
	}
	tr.cache[oid] = d
	return d, nil
}

func (tr *typeResolver) resolve(ctx context.Context, oid uint32, depth int) (valueDecoder, error) {
	if depth > maxTypeDepth {
		return textValue, nil
	}
	if d := builtinDecoder(tr.m, oid); d != nil {
		return d, nil
	}
	if t, ok := tr.m.TypeForOID(oid); ok {
		if ac, ok := t.Codec.(*pgtype.ArrayCodec); ok {
			return tr.array(ctx, ac.ElementType.OID, ac.Delimiter, depth)
		}
		return textValue, nil
	}
	if tr.lookup == nil {
		return textValue, nil
	}
	t, err := tr.lookup(ctx, oid)
	if err != nil {
		return nil, &typeLookupError{fmt.Errorf("look up type %d in pg_type: %w", oid, err)}
	}
	switch {
	case t.Type == 'd' && t.Base != 0:
		return tr.decoder(ctx, t.Base, depth+1)
	case t.Category == 'A' && t.Elem != 0:
		return tr.array(ctx, t.Elem, t.Delim, depth)
	}
	return textValue, nil
}

func (tr *typeResolver) array(ctx context.Context, elem uint32, delim byte, depth int) (valueDecoder, error) {
	d, err := tr.decoder(ctx, elem, depth+1)
	if err != nil {
		return nil, err
	}
	if delim == 0 {
		delim = ','
	}
	return arrayDecoder(d, delim), nil
}

// typeLookupError marks a failure to read pg_type: the connection may come
// back, so the Stream retries.
type typeLookupError struct{ err error }

func (e *typeLookupError) Error() string { return e.err.Error() }
func (e *typeLookupError) Unwrap() error { return e.err }
