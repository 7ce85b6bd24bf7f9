package admin

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// actionRoutes registers the dashboard's POST forms.
func (s *Server) actionRoutes(add func(string, pageFunc)) {
	add("POST /subscribers/{id}/activate", s.subscriberAction(true, "activated"))
	add("POST /subscribers/{id}/deactivate", s.subscriberAction(false, "deactivated"))
	add("POST /subscribers/{id}/reset-counters", s.resetAction)
	add("POST /subscribers/{id}/test", s.testAction)
	add("POST /cache/clear", s.cacheClearAction)
	add("POST /cache/warm", s.cacheWarmAction)
	add("POST /pause", s.pauseAction)
	add("POST /resume", s.resumeAction)
	add("POST /retries/redeliver", s.redeliverAction)
}

// action adapts a form handler: it caps and parses the form and checks the
// CSRF token before f runs.
func (s *Server) action(f pageFunc) http.Handler {
	return s.page(func(w http.ResponseWriter, r *http.Request) error {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			return Invalid("read form: %v", err)
		}
		if err := s.auth.checkCSRF(r); err != nil {
			return &kindError{kind: errForbidden, msg: err.Error()}
		}
		return f(w, r)
	})
}

// done redirects after a successful action to the form's "next" path (or
// def) with a flash code.
func done(w http.ResponseWriter, r *http.Request, def, code string) error {
	next := localPath(r.PostFormValue("next"), def)
	sep := "?"
	if strings.Contains(next, "?") {
		sep = "&"
	}
	http.Redirect(w, r, next+sep+"done="+code, http.StatusSeeOther)
	return nil
}

// formSubscriber parses the subscriber id in an action's path.
func formSubscriber(r *http.Request) (int64, string, error) {
	id, err := parseID("subscriber", r.PathValue("id"))
	return id, "/subscribers/" + strconv.FormatInt(id, 10), err
}

func (s *Server) subscriberAction(active bool, code string) pageFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, back, err := formSubscriber(r)
		if err != nil {
			return err
		}
		sv, err := s.subscribers()
		if err != nil {
			return err
		}
		if err := sv.SetSubscriberActive(r.Context(), id, active); err != nil {
			return err
		}
		return done(w, r, back, code)
	}
}

func (s *Server) resetAction(w http.ResponseWriter, r *http.Request) error {
	id, back, err := formSubscriber(r)
	if err != nil {
		return err
	}
	sv, err := s.subscribers()
	if err != nil {
		return err
	}
	if err := sv.ResetSubscriberCounters(r.Context(), id); err != nil {
		return err
	}
	return done(w, r, back, "reset")
}

// testData is the test result page.
type testData struct {
	Subscriber Subscriber
	Result     TestResult
}

func (s *Server) testAction(w http.ResponseWriter, r *http.Request) error {
	id, _, err := formSubscriber(r)
	if err != nil {
		return err
	}
	payload := json.RawMessage(strings.TrimSpace(r.PostFormValue("payload")))
	res, err := s.testSubscriber(r.Context(), id, payload)
	if err != nil {
		return err
	}
	sub, err := s.getSubscriber(r.Context(), id)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "test", view{Title: "Test " + sub.Name, Nav: "subscribers", Data: testData{sub, res}})
	return nil
}

func (s *Server) cacheClearAction(w http.ResponseWriter, r *http.Request) error {
	if err := s.clearCache(r.Context(), r.PostFormValue("table"), r.PostFormValue("event")); err != nil {
		return err
	}
	return done(w, r, "/", "cleared")
}

func (s *Server) cacheWarmAction(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cache()
	if err != nil {
		return err
	}
	if _, err := c.WarmCache(r.Context()); err != nil {
		return err
	}
	return done(w, r, "/", "warmed")
}

func (s *Server) pauseAction(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.pause(r.Context(), r.PostFormValue("mode")); err != nil {
		return err
	}
	return done(w, r, "/", "paused")
}

func (s *Server) resumeAction(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.resume(r.Context()); err != nil {
		return err
	}
	return done(w, r, "/", "resumed")
}

func (s *Server) redeliverAction(w http.ResponseWriter, r *http.Request) error {
	var red Redelivery
	if v := strings.TrimSpace(r.PostFormValue("subscriber")); v != "" {
		id, err := parseID("subscriber", v)
		if err != nil {
			return err
		}
		red.SubscriberID = id
	}
	red.EventID = strings.TrimSpace(r.PostFormValue("event_id"))
	rq, err := s.retries()
	if err != nil {
		return err
	}
	if _, err := rq.Redeliver(r.Context(), red); err != nil {
		return err
	}
	return done(w, r, "/", "redelivered")
}
