package awsemu

// ParseBlob exposes the ciphertext-blob parser to the fuzz tests: it reports
// the key a blob names and its parts, or ok=false for a malformed blob.
func ParseBlob(b []byte) (region, keyID string, header, nonce, sealed []byte, ok bool) {
	h, header, nonce, sealed, err := parseBlob(b)
	return h.region, h.keyID, header, nonce, sealed, err == nil
}

// EncodeBlobHeader exposes the header encoder, the parser's inverse.
func EncodeBlobHeader(region, keyID string) []byte {
	return encodeHeader(blobHeader{region: region, keyID: keyID})
}
