package admin

import (
	"net/http"
	"net/url"
	"time"
)

// pageFunc renders one dashboard page or returns the error to show.
type pageFunc func(w http.ResponseWriter, r *http.Request) error

// dashboardRoutes is the mux behind "/": pages and their form actions.
func (s *Server) dashboardRoutes() http.Handler {
	mux := http.NewServeMux()
	page := func(pattern string, f pageFunc) { mux.Handle(pattern, s.page(f)) }
	page("GET /{$}", s.overviewPage)
	page("GET /subscribers", s.subscribersPage)
	page("GET /subscribers/{id}", s.subscriberPage)
	page("GET /logs", s.logsPage)
	page("GET /logs/{id}", s.logPage)
	page("GET /errors", s.errorsPage)
	page("/", func(http.ResponseWriter, *http.Request) error {
		return NotFound("no such page; start from the overview at /")
	})
	s.actionRoutes(func(pattern string, f pageFunc) { mux.Handle(pattern, s.action(f)) })
	return mux
}

// page adapts a pageFunc, rendering its error.
func (s *Server) page(f pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			s.renderError(w, r, err)
		}
	})
}

// overviewData is the front page: status and the subscribers table.
type overviewData struct {
	Status      Status
	Subscribers []Subscriber
	SubsErr     string
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) error {
	list, err := s.wiredSubscribers(r.Context())
	d := overviewData{Status: s.statusWith(r.Context(), list, err), Subscribers: list}
	if err != nil {
		d.SubsErr = err.Error()
	}
	s.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Data: d})
	return nil
}

func (s *Server) subscribersPage(w http.ResponseWriter, r *http.Request) error {
	list, err := s.listSubscribers(r.Context())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "subscribers", view{Title: "Subscribers", Nav: "subscribers", Data: list})
	return nil
}

func (s *Server) subscriberPage(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID("subscriber", r.PathValue("id"))
	if err != nil {
		return err
	}
	sub, err := s.getSubscriber(r.Context(), id)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "subscriber", view{Title: sub.Name, Nav: "subscribers", Data: sub})
	return nil
}

// logsData is the log list with its filter and the next page's link.
type logsData struct {
	Page     LogPage
	Query    url.Values
	NextLink string
}

func (s *Server) logsPage(w http.ResponseWriter, r *http.Request) error {
	f, err := logFilter(r, time.Now())
	if err != nil {
		return err
	}
	p, err := s.listLogs(r.Context(), f)
	if err != nil {
		return err
	}
	d := logsData{Page: p, Query: r.URL.Query()}
	if p.NextCursor != "" {
		q := r.URL.Query()
		q.Set("cursor", p.NextCursor)
		d.NextLink = "/logs?" + q.Encode()
	}
	s.render(w, r, http.StatusOK, "logs", view{Title: "Delivery log", Nav: "logs", Data: d})
	return nil
}

func (s *Server) logPage(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID("log entry", r.PathValue("id"))
	if err != nil {
		return err
	}
	lg, err := s.logs()
	if err != nil {
		return err
	}
	e, err := lg.GetLog(r.Context(), id)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "log", view{Title: "Delivery " + r.PathValue("id"), Nav: "logs", Data: e})
	return nil
}

func (s *Server) errorsPage(w http.ResponseWriter, r *http.Request) error {
	q, err := newQuery(r, "limit")
	if err != nil {
		return err
	}
	limit, err := q.intIn("limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	rep, err := s.errorReport(r.Context(), limit)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "errors", view{Title: "Errors", Nav: "errors", Data: rep})
	return nil
}
