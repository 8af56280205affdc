//go:build !unix

package relay

func allocChunks() []byte { return make([]byte, 0, chunkSize) }
