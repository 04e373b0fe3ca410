package keysvc

// SetAfterOpen makes Rewrap call f between opening a ciphertext and
// sealing it again, so a test can rotate the key at exactly that point.
func SetAfterOpen(s *Service, f func()) { s.afterOpen = f }
