package admin

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"
)

func (s *Server) logRoutes(add func(string, apiFunc)) {
	add("GET /api/v1/logs", s.apiListLogs)
	add("GET /api/v1/logs/stats", s.apiLogStats)
	add("GET /api/v1/logs/errors", s.apiLogErrors)
	add("GET /api/v1/logs/{id}", s.apiGetLog)
}

func (s *Server) logs() (Logs, error) {
	if s.o.Logs == nil {
		return nil, notWired("Logs")
	}
	return s.o.Logs, nil
}

// LogPage is the answer to GET /api/v1/logs. NextCursor, when not empty,
// is the cursor parameter that fetches the following (older) page.
type LogPage struct {
	Entries    []LogEntry `json:"entries"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// logFilter parses the log list's query parameters.
func logFilter(r *http.Request, now time.Time) (LogFilter, error) {
	q, err := newQuery(r, "subscriber", "event", "status", "since", "limit", "cursor")
	if err != nil {
		return LogFilter{}, err
	}
	f := LogFilter{Event: q.str("event"), Status: q.str("status")}
	if sub := q.str("subscriber"); sub != "" {
		if id, err := strconv.ParseInt(sub, 10, 64); err == nil {
			f.SubscriberID = id
		} else {
			f.SubscriberName = sub
		}
	}
	if f.Status != "" && f.Status != "success" && f.Status != "failed" {
		return f, Invalid("status=%q is not a status; use success or failed (or leave it out)", f.Status)
	}
	if f.Since, err = q.since("since", now); err != nil {
		return f, err
	}
	if f.Limit, err = q.intIn("limit", 50, 1, 1000); err != nil {
		return f, err
	}
	if c := q.str("cursor"); c != "" {
		if f.BeforeID, err = parseID("cursor", c); err != nil {
			return f, Invalid("cursor=%q is not a cursor; pass next_cursor from the previous page", c)
		}
	}
	return f, nil
}

// listLogs returns one page of the delivery log.
func (s *Server) listLogs(ctx context.Context, f LogFilter) (LogPage, error) {
	lg, err := s.logs()
	if err != nil {
		return LogPage{}, err
	}
	entries, err := lg.ListLogs(ctx, f)
	if err != nil {
		return LogPage{}, err
	}
	if entries == nil {
		entries = []LogEntry{}
	}
	p := LogPage{Entries: entries}
	if n := len(entries); n > 0 && n >= f.Limit {
		p.NextCursor = strconv.FormatInt(entries[n-1].ID, 10)
	}
	return p, nil
}

func (s *Server) apiListLogs(r *http.Request) (any, error) {
	f, err := logFilter(r, time.Now())
	if err != nil {
		return nil, err
	}
	return s.listLogs(r.Context(), f)
}

func (s *Server) apiGetLog(r *http.Request) (any, error) {
	id, err := parseID("log entry", r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	lg, err := s.logs()
	if err != nil {
		return nil, err
	}
	return lg.GetLog(r.Context(), id)
}

func (s *Server) apiLogStats(r *http.Request) (any, error) {
	q, err := newQuery(r, "days")
	if err != nil {
		return nil, err
	}
	days, err := q.intIn("days", 7, 1, 3650)
	if err != nil {
		return nil, err
	}
	lg, err := s.logs()
	if err != nil {
		return nil, err
	}
	st, err := lg.LogStats(r.Context(), days)
	if err != nil {
		return nil, err
	}
	if st.BySubscriber == nil {
		st.BySubscriber = []SubscriberStats{}
	}
	return st, nil
}

// ErrorReport is the answer to GET /api/v1/logs/errors: the newest failed
// attempts and the same attempts grouped by error message.
type ErrorReport struct {
	Errors []LogEntry   `json:"errors"`
	Groups []ErrorGroup `json:"groups"`
}

func (s *Server) apiLogErrors(r *http.Request) (any, error) {
	q, err := newQuery(r, "limit")
	if err != nil {
		return nil, err
	}
	limit, err := q.intIn("limit", 20, 1, 1000)
	if err != nil {
		return nil, err
	}
	return s.errorReport(r.Context(), limit)
}

// errorReport reads the newest failures and groups them.
func (s *Server) errorReport(ctx context.Context, limit int) (ErrorReport, error) {
	lg, err := s.logs()
	if err != nil {
		return ErrorReport{}, err
	}
	entries, err := lg.RecentErrors(ctx, limit)
	if err != nil {
		return ErrorReport{}, err
	}
	if entries == nil {
		entries = []LogEntry{}
	}
	return ErrorReport{Errors: entries, Groups: groupErrors(entries)}, nil
}

// groupErrors groups failed entries by error message (the HTTP status when
// there is no message), largest group first.
func groupErrors(entries []LogEntry) []ErrorGroup {
	index := map[string]int{}
	groups := []ErrorGroup{}
	for _, e := range entries {
		msg := errorMessage(e)
		i, ok := index[msg]
		if !ok {
			i = len(groups)
			index[msg] = i
			groups = append(groups, ErrorGroup{Message: msg, Subscribers: []string{}})
		}
		g := &groups[i]
		g.Count++
		if e.CreatedAt.After(g.LastAt) || g.LastID == 0 {
			g.LastAt, g.LastID = e.CreatedAt, e.ID
		}
		if !contains(g.Subscribers, e.Subscriber) {
			g.Subscribers = append(g.Subscribers, e.Subscriber)
		}
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].Count > groups[j].Count })
	return groups
}

// errorMessage is the text an entry's failure is grouped under.
func errorMessage(e LogEntry) string {
	if e.ErrorMessage != "" {
		return e.ErrorMessage
	}
	if e.ResponseStatus != 0 {
		return "HTTP " + strconv.Itoa(e.ResponseStatus) + " " + http.StatusText(e.ResponseStatus)
	}
	return "unknown error"
}
