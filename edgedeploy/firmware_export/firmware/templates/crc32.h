/*
 * ${banner}
 *
 * crc32.h - CRC-32/IEEE (the checksum of zlib, Ethernet and PNG), one byte at a time.
 *
 * Usage:
 *     uint32_t crc = CRC32_INIT;
 *     crc = crc32_update(crc, byte);      (for each byte)
 *     uint32_t value = crc32_final(crc);  (equals Python's zlib.crc32(data))
 */
#ifndef CRC32_H
#define CRC32_H

#include <stddef.h>
#include <stdint.h>

#define CRC32_INIT 0xFFFFFFFFu

uint32_t crc32_update(uint32_t crc, uint8_t byte);
uint32_t crc32_final(uint32_t crc);
uint32_t crc32_bytes(const uint8_t *data, size_t n);

#endif /* CRC32_H */
