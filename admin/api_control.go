package admin

import (
	"context"
	"net/http"
	"strings"
)

func (s *Server) controlRoutes(add func(string, apiFunc)) {
	add("GET /api/v1/pause", s.apiPauseState)
	add("POST /api/v1/pause", s.apiPause)
	add("POST /api/v1/resume", s.apiResume)
}

func (s *Server) control() (Control, error) {
	if s.o.Control == nil {
		return nil, notWired("Control")
	}
	return s.o.Control, nil
}

func (s *Server) apiPauseState(r *http.Request) (any, error) {
	c, err := s.control()
	if err != nil {
		return nil, err
	}
	return c.PauseState(r.Context())
}

// pauseRequest is POST /api/v1/pause's body.
type pauseRequest struct {
	Mode string `json:"mode"`
}

const pauseExample = `{"mode": "hold"}`

func (s *Server) apiPause(r *http.Request) (any, error) {
	var req pauseRequest
	if err := decodeBody(r, &req, pauseExample); err != nil {
		return nil, err
	}
	return s.pause(r.Context(), req.Mode)
}

// pause validates mode, pauses and answers with the new state.
func (s *Server) pause(ctx context.Context, mode string) (PauseState, error) {
	c, err := s.control()
	if err != nil {
		return PauseState{}, err
	}
	mode = strings.TrimSpace(mode)
	switch mode {
	case PauseSkip, PauseHold:
	case "":
		return PauseState{}, Invalid("mode is required: skip (drop events while paused) or hold (park them and deliver after resume)")
	default:
		return PauseState{}, Invalid("mode %q is not a pause mode; use skip (drop events while paused) or hold (park them and deliver after resume)", mode)
	}
	if err := c.Pause(ctx, mode); err != nil {
		return PauseState{}, err
	}
	return c.PauseState(ctx)
}

func (s *Server) apiResume(r *http.Request) (any, error) {
	return s.resume(r.Context())
}

// resume resumes and answers with the new state.
func (s *Server) resume(ctx context.Context) (PauseState, error) {
	c, err := s.control()
	if err != nil {
		return PauseState{}, err
	}
	if err := c.Resume(ctx); err != nil {
		return PauseState{}, err
	}
	return c.PauseState(ctx)
}
