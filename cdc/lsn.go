package cdc

import "github.com/jackc/pglogrepl"

// ParseLSN parses an LSN in PostgreSQL's text form ("16/B374D848").
func ParseLSN(s string) (LSN, error) { return pglogrepl.ParseLSN(s) }
