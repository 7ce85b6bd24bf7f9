package admin

import (
	"context"
	"net/http"
	"strings"
)

func (s *Server) cacheRoutes(add func(string, apiFunc)) {
	add("GET /api/v1/cache/stats", s.apiCacheStats)
	add("POST /api/v1/cache/clear", s.apiCacheClear)
	add("POST /api/v1/cache/warm", s.apiCacheWarm)
}

func (s *Server) cache() (Cache, error) {
	if s.o.Cache == nil {
		return nil, notWired("Cache")
	}
	return s.o.Cache, nil
}

func (s *Server) apiCacheStats(r *http.Request) (any, error) {
	c, err := s.cache()
	if err != nil {
		return nil, err
	}
	return c.CacheStats(r.Context())
}

// cacheClearRequest is POST /api/v1/cache/clear's optional body.
type cacheClearRequest struct {
	Table string `json:"table"`
	Event string `json:"event"`
}

const cacheClearExample = `{"table": "public.users", "event": "created"} (both optional)`

func (s *Server) apiCacheClear(r *http.Request) (any, error) {
	var req cacheClearRequest
	if err := decodeOptionalBody(r, &req, cacheClearExample); err != nil {
		return nil, err
	}
	if err := s.clearCache(r.Context(), req.Table, req.Event); err != nil {
		return nil, err
	}
	return map[string]any{"cleared": true, "table": req.Table, "event": req.Event}, nil
}

// clearCache validates and clears; empty table or event match all.
func (s *Server) clearCache(ctx context.Context, table, event string) error {
	c, err := s.cache()
	if err != nil {
		return err
	}
	table, event = strings.TrimSpace(table), strings.TrimSpace(event)
	if table != "" && !strings.Contains(table, ".") {
		return Invalid("table %q is not schema-qualified; write it as schema.table, e.g. public.%s", table, table)
	}
	return c.ClearCache(ctx, table, event)
}

func (s *Server) apiCacheWarm(r *http.Request) (any, error) {
	c, err := s.cache()
	if err != nil {
		return nil, err
	}
	n, err := c.WarmCache(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]int{"loaded": n}, nil
}
