//go:build !unix

package core

func allocChunks() []byte { return make([]byte, 0, chunkSize) }
