/*
 * ${banner}
 *
 * crc32.c - CRC-32/IEEE with a 16-entry table: two lookups per byte, 64 bytes
 * of flash instead of the usual 1 KB table.
 */
#include "crc32.h"

/* CRC of each 4-bit value under the reflected polynomial 0xEDB88320. */
static const uint32_t k_nibble_table[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t crc32_update(uint32_t crc, uint8_t byte)
{
    crc ^= byte;
    crc = (crc >> 4) ^ k_nibble_table[crc & 0xFu];
    crc = (crc >> 4) ^ k_nibble_table[crc & 0xFu];
    return crc;
}

uint32_t crc32_final(uint32_t crc)
{
    return crc ^ 0xFFFFFFFFu;
}

uint32_t crc32_bytes(const uint8_t *data, size_t n)
{
    uint32_t crc = CRC32_INIT;
    for (size_t i = 0; i < n; ++i) {
        crc = crc32_update(crc, data[i]);
    }
    return crc32_final(crc);
}
