package admin

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the dashboard's pages; each is templates/<name>.html
// rendered inside templates/layout.html.
var pageNames = []string{"overview", "subscribers", "subscriber", "logs", "log", "errors", "login", "message", "test"}

// parsePages parses every page once, at New.
func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(templateFS,
			"templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse dashboard page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page template receives.
type view struct {
	Title    string
	Nav      string // the nav entry to highlight
	CSRF     string
	LoggedIn bool // a token is set: show the logout button
	Flash    string
	Data     any
}

// render executes a page into a buffer, then writes it with code, so a
// template error becomes a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, v view) {
	v.CSRF = s.auth.csrf
	v.LoggedIn = !s.auth.open()
	if v.Flash == "" {
		v.Flash = flashes[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("render dashboard page")
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows err on the message page with its HTTP status.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	code := httpStatus(err)
	if code >= 500 && code != http.StatusNotImplemented {
		s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("dashboard request")
	}
	s.render(w, r, code, "message", view{Title: http.StatusText(code), Data: err.Error()})
}

// flashes are the messages shown after an action redirects (?done=code);
// fixed texts, so a crafted link cannot put words on the page.
var flashes = map[string]string{
	"activated":   "Subscriber activated.",
	"deactivated": "Subscriber deactivated.",
	"reset":       "Counters reset.",
	"cleared":     "Cache cleared.",
	"warmed":      "Cache warmed.",
	"paused":      "Deliveries paused.",
	"resumed":     "Deliveries resumed.",
	"redelivered": "Failed retries scheduled for redelivery.",
}

var templateFuncs = template.FuncMap{
	"healthClass": func(h string) string { return "health-" + h },
	"rateClass":   rateClass,
	"pct":         func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + "%" },
	"ratio":       func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
	"when":        when,
	"bytes":       humanBytes,
	"pretty":      prettyJSON,
	"prettyText":  func(s string) string { return prettyJSON([]byte(s)) },
	"statusClass": statusClass,
	"dict":        dict,
}

// dict builds a map from alternating keys and values, to pass several
// values to a nested template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict needs key/value pairs, got %d arguments", len(kv))
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// rateClass colours a success rate: good from 95%, warn from 80%, bad
// below; none when nothing was delivered yet.
func rateClass(rate float64, total int64) string {
	switch {
	case total == 0:
		return "rate-none"
	case rate >= 95:
		return "rate-good"
	case rate >= 80:
		return "rate-warn"
	default:
		return "rate-bad"
	}
}

// statusClass colours an HTTP status code.
func statusClass(code int) string {
	switch {
	case code >= 200 && code < 300:
		return "ok"
	case code >= 400 && code < 500:
		return "client"
	default:
		return "bad"
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// humanBytes formats a byte count with binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + []string{"", "KiB", "MiB", "GiB", "TiB"}[i]
}

// prettyJSON indents JSON, or returns the text as it is when it is not.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

// localPath returns next when it is a path on this server, else def; it
// keeps redirects from leaving the dashboard.
func localPath(next, def string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return def
	}
	return next
}
