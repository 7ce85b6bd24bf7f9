package store

import (
	"context"
	"strings"
	"testing"

	"github.com/walhook/walhook/config"
)

func TestCheckSubscriptions(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t, Options{})
	addSubscriber(t, db, "a", "public.users", "https://a.example.com/", "created", "creatd", "email_updated")
	addSubscriber(t, db, "b", "public.orders", "https://b.example.com/", "paid", "shipped")
	events := []config.Event{{Name: "email_updated", Table: "public.users"}, {Name: "paid", Table: "public.orders"}}
	got, err := db.CheckSubscriptions(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.Contains(got[0], `"creatd"`) || !strings.Contains(got[0], `did you mean "created"?`) ||
		!strings.Contains(got[1], `"shipped"`) || strings.Contains(got[1], "did you mean") {
		t.Fatalf("problems = %q", got)
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"creatd", "created", 1}, {"updated", "deleted", 4}, {"abc", "", 3}, {"paid", "paid", 0}} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
