package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/walhook/walhook/config"
)

// CheckSubscriptions returns a problem for each active subscription in the
// tables (created with SQL or from YAML) that can never fire: its event is
// neither built in (config.BuiltinEvents) nor declared under events: for
// its subscriber's table. YAML subscribers are refused at start-up by
// config already; rows inserted with SQL reach walhook only here, so the
// caller should log these at start and in status.
func (db *DB) CheckSubscriptions(ctx context.Context, events []config.Event) ([]string, error) {
	rows, err := db.pool.Query(ctx, db.render(`SELECT sb.name, sb.id, sb.table_name, sn.event_name
FROM {{schema}}.subscriptions sn JOIN {{schema}}.subscribers sb ON sb.id = sn.subscriber_id
WHERE sn.is_active AND sb.is_active ORDER BY sb.id, sn.id`))
	if err != nil {
		return nil, fmt.Errorf("check subscriptions: %w", err)
	}
	defer rows.Close()
	var problems []string
	var name, table, event string
	var id int64
	for rows.Next() {
		if err := rows.Scan(&name, &id, &table, &event); err != nil {
			return nil, fmt.Errorf("check subscriptions: %w", err)
		}
		known := knownEvents(table, events)
		if slices.Contains(known, event) {
			continue
		}
		msg := fmt.Sprintf("subscriber %q (id %d) subscribes to event %q of %s, which is neither built in nor declared under events: for that table; it never fires", name, id, event, table)
		if s := closest(event, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		problems = append(problems, msg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check subscriptions: %w", err)
	}
	return problems, nil
}

func knownEvents(table string, events []config.Event) []string {
	known := append([]string(nil), config.BuiltinEvents...)
	for _, e := range events {
		if e.Table == table {
			known = append(known, e.Name)
		}
	}
	return known
}

// closest returns the candidate within edit distance 2 of word, or "".
func closest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is config.EditDistance (the Levenshtein distance).
func editDistance(a, b string) int { return config.EditDistance(a, b) }
