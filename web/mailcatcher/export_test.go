package mailcatcher

// SetLimit lowers how many messages c keeps, so the bound can be tested
// without sending hundreds of messages.
func (c *Catcher) SetLimit(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = n
}
