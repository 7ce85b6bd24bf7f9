// Package archtest holds the test that enforces the import rules of
// STYLE.md: which walhook package may import which.
package archtest
