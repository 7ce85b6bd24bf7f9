package config

// suggest returns the candidate closest to word by edit distance when it is
// close enough to be a likely typo, or "".
func suggest(word string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := EditDistance(word, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if l := len(word) / 3; l > limit {
		limit = l
	}
	if bestDist < 0 || bestDist > limit || bestDist >= len(word) {
		return ""
	}
	return best
}

// EditDistance is the Levenshtein distance between a and b, by bytes, for
// "did you mean" suggestions. Words longer than 64 bytes are compared for
// equality only.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Long words are never typos of short keys; avoid quadratic work.
		if a == b {
			return 0
		}
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
