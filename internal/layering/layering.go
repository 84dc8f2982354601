// Package layering holds, as a test, which packages of this module may not
// depend on which: the rules a reader of the tree can rely on.
package layering
