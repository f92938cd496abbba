package idempotency

// Hash exposes a key's request hash to the tests.
func Hash(k Key) []byte { return k.hash }
