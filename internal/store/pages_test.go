package store_test

import (
	"reflect"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
)

// allPages reads a list page by page, following cursors, and checks the last cursor is empty.
func allPages[T any](t *testing.T, limit int, fetch func(domain.Page) ([]T, string, error)) [][]T {
	t.Helper()
	var pages [][]T
	page := domain.Page{Limit: limit}
	for range 100 {
		items, next, err := fetch(page)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, items)
		if next == "" {
			return pages
		}
		page.Cursor = next
	}
	t.Fatal("the cursor never ran out")
	return nil
}

func sizes[T any](pages [][]T) []int {
	var n []int
	for _, p := range pages {
		n = append(n, len(p))
	}
	return n
}

// wantPaged fails unless pages hold the items want names, by id, in pages of sizes.
func wantPaged[T any](t *testing.T, pages [][]T, id func(T) string, want []string, wantSizes ...int) {
	t.Helper()
	if got := flat(pages, id); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(sizes(pages), wantSizes) {
		t.Errorf("pages %v of %v, want %v of %v", sizes(pages), got, wantSizes, want)
	}
}

func flat[T, K any](pages [][]T, key func(T) K) []K {
	var out []K
	for _, p := range pages {
		for _, v := range p {
			out = append(out, key(v))
		}
	}
	return out
}
