package views

// ConnectionKeysShown is how many key names a connection's row lists.
const ConnectionKeysShown = 5

// ConnectionKeys are the keys (not deleted) that use a connection.
type ConnectionKeys struct {
	Count int
	Keys  []Link // the first few by name, linked to their pages
}

// More is how many keys the row counts but does not name.
func (k ConnectionKeys) More() int { return k.Count - len(k.Keys) }
