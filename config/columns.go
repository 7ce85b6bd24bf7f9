package config

import "sort"

// ColumnsByTable lists every table the configuration names (tables:,
// events:, subscribers:) with every column it references: projections,
// when_changed, ignore_changed and where. Columns are sorted and unique; a
// table whose columns are all sent has an empty, non-nil list. It is what a
// start-up check against the database needs.
func (c *Config) ColumnsByTable() map[string][]string {
	sets := map[string]map[string]struct{}{}
	add := func(table string, cols ...string) {
		set := sets[table]
		if set == nil {
			set = map[string]struct{}{}
			sets[table] = set
		}
		for _, col := range cols {
			set[col] = struct{}{}
		}
	}
	for _, t := range c.Tables {
		add(t.Name, t.Fields.Columns()...)
	}
	for _, e := range c.Events {
		add(e.Table, e.WhenChanged...)
		add(e.Table, e.IgnoreChanged...)
		for _, w := range e.Where {
			add(e.Table, w.Column)
		}
	}
	for _, s := range c.Subscribers {
		add(s.Table, s.Fields.Columns()...)
	}
	out := make(map[string][]string, len(sets))
	for table, set := range sets {
		cols := make([]string, 0, len(set))
		for col := range set {
			cols = append(cols, col)
		}
		sort.Strings(cols)
		out[table] = cols
	}
	return out
}

// ProjectionFor returns the projection a subscriber's payloads use: its own
// fields, else its table's, else nil (every column).
func (c *Config) ProjectionFor(s *Subscriber) *Projection {
	if s.Fields != nil {
		return s.Fields
	}
	for i := range c.Tables {
		if c.Tables[i].Name == s.Table {
			return c.Tables[i].Fields
		}
	}
	return nil
}
