package wal

import "hash/crc32"

// crc32cCombine returns the CRC-32C of a||b given crcA = CRC-32C(a),
// crcB = CRC-32C(b) and lenB = len(b), without reading either: a snapshot
// file's checksum is then its header's combined with its payload's, and
// the payload's is the one the store's stream needs too (one pass over
// the data instead of two).
//
// A CRC is the remainder of the message times x^32 modulo the polynomial
// P, with the register's initial and final inversions. Appending lenB
// bytes multiplies a's remainder by x^(8·lenB); the inversions of b's
// own CRC account for the rest, so the result is crcA·x^(8·lenB) mod P
// xor crcB (in the reflected bit order the table uses).
func crc32cCombine(crcA, crcB uint32, lenB int64) uint32 {
	return gfMulModP(crcA, xPow8n(lenB)) ^ crcB
}

// gfMulModP multiplies two polynomials of degree < 32 modulo the
// Castagnoli polynomial, in the reflected order: bit 31 is x^0, bit 0 is
// x^31.
func gfMulModP(a, b uint32) uint32 {
	var p uint32
	for bit := uint32(1) << 31; bit != 0; bit >>= 1 {
		if a&bit != 0 {
			p ^= b
		}
		// b *= x: one place toward x^31, reduced when x^32 comes out.
		if b&1 != 0 {
			b = b>>1 ^ crc32.Castagnoli
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow8n returns x^(8n) mod P (reflected), by squaring and multiplying.
func xPow8n(n int64) uint32 {
	result := uint32(1) << 31 // x^0
	base := uint32(1) << 23   // x^8
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			result = gfMulModP(result, base)
		}
		base = gfMulModP(base, base)
	}
	return result
}
