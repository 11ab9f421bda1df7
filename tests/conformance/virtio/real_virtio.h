/* What Linux's own uapi headers (linux/virtio_ring.h, virtio_blk.h,
 * virtio_config.h, virtio_ids.h, vhost_types.h) say, exported from a C
 * translation unit compiled against them, so C++ tests can compare. */
#ifndef PVSIM_TESTS_REAL_VIRTIO_H
#define PVSIM_TESTS_REAL_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct real_layout {
    const char* name; /* "struct" for the whole, else the field */
    size_t size;      /* of a flexible array member: of one element */
    size_t offset;
};

struct real_constant {
    const char* name;
    long long value;
};

struct real_alignment {
    const char* name; /* the C type */
    size_t alignment;
};

#define PVSIM_REAL_LAYOUT(name)                      \
    extern const struct real_layout name##_layout[]; \
    extern const size_t name##_layout_count;

/* {name, size, offset} of each structure and its fields. */
PVSIM_REAL_LAYOUT(real_vring_desc)
PVSIM_REAL_LAYOUT(real_vring_avail)
PVSIM_REAL_LAYOUT(real_vring_used_elem)
PVSIM_REAL_LAYOUT(real_vring_used)
PVSIM_REAL_LAYOUT(real_virtio_blk_outhdr)
PVSIM_REAL_LAYOUT(real_virtio_blk_discard_write_zeroes)
PVSIM_REAL_LAYOUT(real_virtio_blk_geometry)
PVSIM_REAL_LAYOUT(real_virtio_blk_config)
PVSIM_REAL_LAYOUT(real_vhost_vring_state)
PVSIM_REAL_LAYOUT(real_vhost_vring_addr)
PVSIM_REAL_LAYOUT(real_vhost_memory_region)
PVSIM_REAL_LAYOUT(real_vhost_memory)
PVSIM_REAL_LAYOUT(real_vhost_iotlb_msg)

#undef PVSIM_REAL_LAYOUT

/* _Alignof of the structures above. */
extern const struct real_alignment real_alignments[];
extern const size_t real_alignments_count;

/* Every #define'd number the headers give for these ABIs. Constants that
 * only newer headers have appear only when this machine's header has them. */
extern const struct real_constant real_virtio_constants[];
extern const size_t real_virtio_constants_count;

/* The real inline helpers, called through. */
int real_vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx);
unsigned real_vring_size(unsigned num, unsigned long align);

/* Where vring_init() puts each part in an area aligned to `align`, and
 * where vring_used_event() / vring_avail_event() point, as byte offsets
 * from the start of the area. Returns 0 if the area could not be
 * allocated. */
struct real_vring_offsets {
    size_t desc;
    size_t avail;
    size_t used;
    size_t used_event;
    size_t avail_event;
};
int real_vring_init_offsets(unsigned num, unsigned long align, struct real_vring_offsets* out);

#ifdef __cplusplus
}
#endif

#endif
