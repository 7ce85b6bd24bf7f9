package admin

import (
	"net/http"
)

// loginData is the login page: where to go after, and the last failure.
type loginData struct {
	Next  string
	Error string
}

// loginPage shows the token form; without a token there is nothing to log
// into, so it sends the browser on.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"), "/")
	if s.auth.open() || s.auth.cookie(r) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", view{Title: "Log in", Data: loginData{Next: next}})
}

// login checks the token typed into the form and sets the session cookie
// (HttpOnly, SameSite=Strict, Secure over TLS).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, Invalid("read login form: %v", err))
		return
	}
	next := localPath(r.PostFormValue("next"), "/")
	if err := s.auth.checkCSRF(r); err != nil {
		s.renderError(w, r, &kindError{kind: errForbidden, msg: err.Error()})
		return
	}
	if !s.auth.checkToken(r.PostFormValue("token")) {
		s.log.Warn().Str("remote", r.RemoteAddr).Msg("admin login refused")
		s.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Data: loginData{Next: next, Error: "That is not the admin token (admin.token). Try again."}})
		return
	}
	http.SetCookie(w, s.sessionCookie(r, s.auth.session, 12*60*60))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout clears the session cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err == nil && s.auth.checkCSRF(r) == nil {
		http.SetCookie(w, s.sessionCookie(r, "", -1))
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// sessionCookie builds the login cookie; maxAge < 0 deletes it.
func (s *Server) sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}
