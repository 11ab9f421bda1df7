/* Compiled as C against Debian's linux-libc-dev headers: the reference. */
#include "real_virtio.h"

#include <stdlib.h>

#include <linux/vhost_types.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#define FIELD(type, field) \
    { #field, sizeof(((type*)0)->field), offsetof(type, field) }
/* sizeof cannot apply to a flexible array member; record one element. */
#define FLEX_FIELD(type, field) \
    { #field, sizeof(((type*)0)->field[0]), offsetof(type, field) }
#define WHOLE(type) \
    { "struct", sizeof(type), 0 }
#define COUNT(table) (sizeof(table) / sizeof((table)[0]))
#define TABLE(name, ...)                                      \
    const struct real_layout name##_layout[] = {__VA_ARGS__}; \
    const size_t name##_layout_count = COUNT(name##_layout);
#define CONSTANT(name) \
    { #name, (long long)(name) }
#define ALIGNMENT(type) \
    { #type, _Alignof(type) }

TABLE(real_vring_desc, WHOLE(struct vring_desc), FIELD(struct vring_desc, addr),
      FIELD(struct vring_desc, len), FIELD(struct vring_desc, flags),
      FIELD(struct vring_desc, next))

TABLE(real_vring_avail, WHOLE(struct vring_avail), FIELD(struct vring_avail, flags),
      FIELD(struct vring_avail, idx), FLEX_FIELD(struct vring_avail, ring))

TABLE(real_vring_used_elem, WHOLE(struct vring_used_elem), FIELD(struct vring_used_elem, id),
      FIELD(struct vring_used_elem, len))

TABLE(real_vring_used, WHOLE(struct vring_used), FIELD(struct vring_used, flags),
      FIELD(struct vring_used, idx), FLEX_FIELD(struct vring_used, ring))

TABLE(real_virtio_blk_outhdr, WHOLE(struct virtio_blk_outhdr),
      FIELD(struct virtio_blk_outhdr, type), FIELD(struct virtio_blk_outhdr, ioprio),
      FIELD(struct virtio_blk_outhdr, sector))

TABLE(real_virtio_blk_discard_write_zeroes, WHOLE(struct virtio_blk_discard_write_zeroes),
      FIELD(struct virtio_blk_discard_write_zeroes, sector),
      FIELD(struct virtio_blk_discard_write_zeroes, num_sectors),
      FIELD(struct virtio_blk_discard_write_zeroes, flags))

TABLE(real_virtio_blk_geometry, WHOLE(struct virtio_blk_geometry),
      FIELD(struct virtio_blk_geometry, cylinders), FIELD(struct virtio_blk_geometry, heads),
      FIELD(struct virtio_blk_geometry, sectors))

TABLE(real_virtio_blk_config, WHOLE(struct virtio_blk_config),
      FIELD(struct virtio_blk_config, capacity), FIELD(struct virtio_blk_config, size_max),
      FIELD(struct virtio_blk_config, seg_max), FIELD(struct virtio_blk_config, geometry),
      FIELD(struct virtio_blk_config, blk_size),
      FIELD(struct virtio_blk_config, physical_block_exp),
      FIELD(struct virtio_blk_config, alignment_offset),
      FIELD(struct virtio_blk_config, min_io_size), FIELD(struct virtio_blk_config, opt_io_size),
      FIELD(struct virtio_blk_config, wce), FIELD(struct virtio_blk_config, unused),
      FIELD(struct virtio_blk_config, num_queues),
      FIELD(struct virtio_blk_config, max_discard_sectors),
      FIELD(struct virtio_blk_config, max_discard_seg),
      FIELD(struct virtio_blk_config, discard_sector_alignment),
      FIELD(struct virtio_blk_config, max_write_zeroes_sectors),
      FIELD(struct virtio_blk_config, max_write_zeroes_seg),
      FIELD(struct virtio_blk_config, write_zeroes_may_unmap),
      FIELD(struct virtio_blk_config, unused1),
      FIELD(struct virtio_blk_config, max_secure_erase_sectors),
      FIELD(struct virtio_blk_config, max_secure_erase_seg),
      FIELD(struct virtio_blk_config, secure_erase_sector_alignment))

TABLE(real_vhost_vring_state, WHOLE(struct vhost_vring_state),
      FIELD(struct vhost_vring_state, index), FIELD(struct vhost_vring_state, num))

TABLE(real_vhost_vring_addr, WHOLE(struct vhost_vring_addr), FIELD(struct vhost_vring_addr, index),
      FIELD(struct vhost_vring_addr, flags), FIELD(struct vhost_vring_addr, desc_user_addr),
      FIELD(struct vhost_vring_addr, used_user_addr),
      FIELD(struct vhost_vring_addr, avail_user_addr),
      FIELD(struct vhost_vring_addr, log_guest_addr))

TABLE(real_vhost_memory_region, WHOLE(struct vhost_memory_region),
      FIELD(struct vhost_memory_region, guest_phys_addr),
      FIELD(struct vhost_memory_region, memory_size),
      FIELD(struct vhost_memory_region, userspace_addr),
      FIELD(struct vhost_memory_region, flags_padding))

TABLE(real_vhost_memory, WHOLE(struct vhost_memory), FIELD(struct vhost_memory, nregions),
      FIELD(struct vhost_memory, padding), FLEX_FIELD(struct vhost_memory, regions))

TABLE(real_vhost_iotlb_msg, WHOLE(struct vhost_iotlb_msg), FIELD(struct vhost_iotlb_msg, iova),
      FIELD(struct vhost_iotlb_msg, size), FIELD(struct vhost_iotlb_msg, uaddr),
      FIELD(struct vhost_iotlb_msg, perm), FIELD(struct vhost_iotlb_msg, type))

const struct real_alignment real_alignments[] = {
    ALIGNMENT(struct vring_desc),          ALIGNMENT(struct vring_avail),
    ALIGNMENT(struct vring_used_elem),     ALIGNMENT(struct vring_used),
    ALIGNMENT(struct virtio_blk_outhdr),   ALIGNMENT(struct virtio_blk_discard_write_zeroes),
    ALIGNMENT(struct virtio_blk_geometry), ALIGNMENT(struct virtio_blk_config),
    ALIGNMENT(struct vhost_vring_state),   ALIGNMENT(struct vhost_vring_addr),
    ALIGNMENT(struct vhost_memory_region), ALIGNMENT(struct vhost_memory),
    ALIGNMENT(struct vhost_iotlb_msg),
};
const size_t real_alignments_count = COUNT(real_alignments);

const struct real_constant real_virtio_constants[] = {
    /* linux/virtio_ring.h */
    CONSTANT(VRING_DESC_F_NEXT),
    CONSTANT(VRING_DESC_F_WRITE),
    CONSTANT(VRING_DESC_F_INDIRECT),
    CONSTANT(VRING_USED_F_NO_NOTIFY),
    CONSTANT(VRING_AVAIL_F_NO_INTERRUPT),
    CONSTANT(VIRTIO_RING_F_INDIRECT_DESC),
    CONSTANT(VIRTIO_RING_F_EVENT_IDX),
    CONSTANT(VRING_AVAIL_ALIGN_SIZE),
    CONSTANT(VRING_USED_ALIGN_SIZE),
    CONSTANT(VRING_DESC_ALIGN_SIZE),
    /* linux/virtio_config.h */
    CONSTANT(VIRTIO_CONFIG_S_ACKNOWLEDGE),
    CONSTANT(VIRTIO_CONFIG_S_DRIVER),
    CONSTANT(VIRTIO_CONFIG_S_DRIVER_OK),
    CONSTANT(VIRTIO_CONFIG_S_FEATURES_OK),
    CONSTANT(VIRTIO_CONFIG_S_NEEDS_RESET),
    CONSTANT(VIRTIO_CONFIG_S_FAILED),
    CONSTANT(VIRTIO_TRANSPORT_F_START),
    CONSTANT(VIRTIO_TRANSPORT_F_END),
    CONSTANT(VIRTIO_F_NOTIFY_ON_EMPTY),
    CONSTANT(VIRTIO_F_ANY_LAYOUT),
    CONSTANT(VIRTIO_F_VERSION_1),
    CONSTANT(VIRTIO_F_ACCESS_PLATFORM),
    CONSTANT(VIRTIO_F_RING_PACKED),
    CONSTANT(VIRTIO_F_IN_ORDER),
    CONSTANT(VIRTIO_F_ORDER_PLATFORM),
    CONSTANT(VIRTIO_F_SR_IOV),
#ifdef VIRTIO_F_NOTIFICATION_DATA
    CONSTANT(VIRTIO_F_NOTIFICATION_DATA),
#endif
#ifdef VIRTIO_F_NOTIF_CONFIG_DATA
    CONSTANT(VIRTIO_F_NOTIF_CONFIG_DATA),
#endif
    CONSTANT(VIRTIO_F_RING_RESET),
    /* linux/virtio_ids.h */
    CONSTANT(VIRTIO_ID_BLOCK),
    /* linux/virtio_blk.h */
    CONSTANT(VIRTIO_BLK_F_SIZE_MAX),
    CONSTANT(VIRTIO_BLK_F_SEG_MAX),
    CONSTANT(VIRTIO_BLK_F_GEOMETRY),
    CONSTANT(VIRTIO_BLK_F_RO),
    CONSTANT(VIRTIO_BLK_F_BLK_SIZE),
    CONSTANT(VIRTIO_BLK_F_TOPOLOGY),
    CONSTANT(VIRTIO_BLK_F_MQ),
    CONSTANT(VIRTIO_BLK_F_DISCARD),
    CONSTANT(VIRTIO_BLK_F_WRITE_ZEROES),
#ifdef VIRTIO_BLK_F_LIFETIME
    CONSTANT(VIRTIO_BLK_F_LIFETIME),
#endif
    CONSTANT(VIRTIO_BLK_F_SECURE_ERASE),
    CONSTANT(VIRTIO_BLK_F_BARRIER),
    CONSTANT(VIRTIO_BLK_F_SCSI),
    CONSTANT(VIRTIO_BLK_F_FLUSH),
    CONSTANT(VIRTIO_BLK_F_CONFIG_WCE),
    CONSTANT(VIRTIO_BLK_ID_BYTES),
    CONSTANT(VIRTIO_BLK_T_IN),
    CONSTANT(VIRTIO_BLK_T_OUT),
    CONSTANT(VIRTIO_BLK_T_FLUSH),
    CONSTANT(VIRTIO_BLK_T_GET_ID),
#ifdef VIRTIO_BLK_T_GET_LIFETIME
    CONSTANT(VIRTIO_BLK_T_GET_LIFETIME),
#endif
    CONSTANT(VIRTIO_BLK_T_DISCARD),
    CONSTANT(VIRTIO_BLK_T_WRITE_ZEROES),
    CONSTANT(VIRTIO_BLK_T_SECURE_ERASE),
    CONSTANT(VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
    CONSTANT(VIRTIO_BLK_S_OK),
    CONSTANT(VIRTIO_BLK_S_IOERR),
    CONSTANT(VIRTIO_BLK_S_UNSUPP),
    /* linux/vhost_types.h */
    CONSTANT(VHOST_VRING_F_LOG),
    CONSTANT(VHOST_F_LOG_ALL),
    CONSTANT(VHOST_ACCESS_RO),
    CONSTANT(VHOST_ACCESS_WO),
    CONSTANT(VHOST_ACCESS_RW),
    CONSTANT(VHOST_IOTLB_MISS),
    CONSTANT(VHOST_IOTLB_UPDATE),
    CONSTANT(VHOST_IOTLB_INVALIDATE),
    CONSTANT(VHOST_IOTLB_ACCESS_FAIL),
};
const size_t real_virtio_constants_count = COUNT(real_virtio_constants);

int real_vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
    return vring_need_event(event_idx, new_idx, old_idx);
}

unsigned real_vring_size(unsigned num, unsigned long align) {
    return vring_size(num, align);
}

int real_vring_init_offsets(unsigned num, unsigned long align, struct real_vring_offsets* out) {
    /* vring_init() aligns the used ring's absolute address, so the area
     * itself must start on an `align` boundary, as a real one does. */
    size_t boundary = align < 16 ? 16 : align;
    size_t size = vring_size(num, align);
    char* area = aligned_alloc(boundary, (size + boundary - 1) / boundary * boundary);
    if (area == NULL) {
        return 0;
    }
    struct vring vr;
    vring_init(&vr, num, area, align);
    out->desc = (size_t)((char*)vr.desc - area);
    out->avail = (size_t)((char*)vr.avail - area);
    out->used = (size_t)((char*)vr.used - area);
    out->used_event = (size_t)((char*)&vring_used_event(&vr) - area);
    out->avail_event = (size_t)((char*)&vring_avail_event(&vr) - area);
    free(area);
    return 1;
}
