// pvsim's xenstore wire ABI and XenbusState against Xen's own headers.
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "common/xen/xenbus.hpp"
#include "common/xen/xs_wire.hpp"
#include "real_xs_wire.h"

namespace {

using pvsim::xen::XenbusState;
namespace xs = pvsim::xen::xs;

struct Field {
    std::size_t size;
    std::size_t offset;
};

#define PVSIM_FIELD(type, field)                       \
    {                                                  \
#field, Field {                                \
            sizeof(type::field), offsetof(type, field) \
        }                                              \
    }

std::map<std::string, long> real_constants() {
    std::map<std::string, long> out;
    for (const auto& c : std::span(real_xs_constants, real_xs_constants_count)) {
        out.emplace(c.name, c.value);
    }
    return out;
}

void expect_same_layout(std::span<const real_layout> real, std::size_t our_size,
                        const std::map<std::string, Field>& ours) {
    ASSERT_FALSE(real.empty());
    EXPECT_EQ(real.front().size, our_size) << "sizeof";
    ASSERT_EQ(real.size() - 1, ours.size()) << "field count";
    for (const auto& field : real.subspan(1)) {
        auto it = ours.find(field.name);
        ASSERT_NE(it, ours.end()) << "missing field " << field.name;
        EXPECT_EQ(it->second.size, field.size) << field.name;
        EXPECT_EQ(it->second.offset, field.offset) << field.name;
    }
}

TEST(XsWireConformance, MessageHeaderLayoutMatchesXsdSockmsg) {
    expect_same_layout(
        std::span(real_xsd_sockmsg_layout, real_xsd_sockmsg_layout_count),
        sizeof(xs::MessageHeader),
        {PVSIM_FIELD(xs::MessageHeader, type), PVSIM_FIELD(xs::MessageHeader, req_id),
         PVSIM_FIELD(xs::MessageHeader, tx_id), PVSIM_FIELD(xs::MessageHeader, len)});
}

TEST(XsWireConformance, DomainInterfaceLayoutMatchesXenstoreDomainInterface) {
    using DI = xs::DomainInterface;
    expect_same_layout(
        std::span(real_domain_interface_layout, real_domain_interface_layout_count), sizeof(DI),
        {PVSIM_FIELD(DI, req), PVSIM_FIELD(DI, rsp), PVSIM_FIELD(DI, req_cons),
         PVSIM_FIELD(DI, req_prod), PVSIM_FIELD(DI, rsp_cons), PVSIM_FIELD(DI, rsp_prod),
         PVSIM_FIELD(DI, server_features), PVSIM_FIELD(DI, connection), PVSIM_FIELD(DI, error)});
}

TEST(XsWireConformance, EveryMessageTypeHasTheHeadersNumberAndName) {
    auto real = real_constants();
    const long count = real.at("XS_TYPE_COUNT");
    EXPECT_EQ(count, static_cast<long>(xs::MessageType::type_count));
    EXPECT_EQ(real.at("XS_INVALID"), static_cast<long>(xs::MessageType::invalid));
    int named = 0;
    for (const auto& [real_name, value] : real) {
        if (real_name.rfind("XS_", 0) != 0 || value >= count || real_name == "XS_WATCH_PATH" ||
            real_name == "XS_WATCH_TOKEN") {
            continue;
        }
        EXPECT_EQ(xs::name(static_cast<xs::MessageType>(value)), real_name);
        ++named;
    }
    EXPECT_EQ(named, 22);  // 23 numbers, one of them (XS_RESTRICT) retired
    EXPECT_EQ(xs::name(static_cast<xs::MessageType>(20)), "XS_UNKNOWN");
}

TEST(XsWireConformance, LimitsAndRingConstantsMatch) {
    auto real = real_constants();
    EXPECT_EQ(real.at("XS_WATCH_PATH"), static_cast<long>(xs::kWatchPath));
    EXPECT_EQ(real.at("XS_WATCH_TOKEN"), static_cast<long>(xs::kWatchToken));
    EXPECT_EQ(real.at("XENSTORE_RING_SIZE"), static_cast<long>(xs::kRingSize));
    EXPECT_EQ(real.at("XENSTORE_PAYLOAD_MAX"), static_cast<long>(xs::kPayloadMax));
    EXPECT_EQ(real.at("XENSTORE_ABS_PATH_MAX"), static_cast<long>(xs::kAbsPathMax));
    EXPECT_EQ(real.at("XENSTORE_REL_PATH_MAX"), static_cast<long>(xs::kRelPathMax));
    EXPECT_EQ(real.at("XENSTORE_SERVER_FEATURE_RECONNECTION"),
              static_cast<long>(xs::kServerFeatureReconnection));
    EXPECT_EQ(real.at("XENSTORE_SERVER_FEATURE_ERROR"), static_cast<long>(xs::kServerFeatureError));
    EXPECT_EQ(real.at("XENSTORE_CONNECTED"), static_cast<long>(xs::kConnected));
    EXPECT_EQ(real.at("XENSTORE_RECONNECT"), static_cast<long>(xs::kReconnect));
    EXPECT_EQ(real.at("XENSTORE_ERROR_NONE"), static_cast<long>(xs::kErrorNone));
    EXPECT_EQ(real.at("XENSTORE_ERROR_COMM"), static_cast<long>(xs::kErrorComm));
    EXPECT_EQ(real.at("XENSTORE_ERROR_RINGIDX"), static_cast<long>(xs::kErrorRingIdx));
    EXPECT_EQ(real.at("XENSTORE_ERROR_PROTO"), static_cast<long>(xs::kErrorProto));
}

TEST(XsWireConformance, MaskMatchesMaskXenstoreIdxAcrossTheWrap) {
    for (unsigned index : {0u, 1u, 1023u, 1024u, 1025u, 0x7fffffffu, 0xfffffbffu, 0xffffffffu}) {
        EXPECT_EQ(xs::mask_index(index), real_mask_xenstore_idx(index)) << index;
    }
}

TEST(XsWireConformance, ErrorTableHasTheHeadersEntriesInItsOrder) {
    ASSERT_EQ(real_xsd_error_count(), xs::kErrors.size());
    for (std::size_t i = 0; i < xs::kErrors.size(); ++i) {
        EXPECT_EQ(xs::kErrors[i].errnum, real_xsd_error_number(i)) << i;
        EXPECT_EQ(xs::kErrors[i].name, std::string_view(real_xsd_error_name(i))) << i;
        EXPECT_EQ(xs::error_name(real_xsd_error_number(i)), real_xsd_error_name(i));
        EXPECT_EQ(xs::error_number(real_xsd_error_name(i)), real_xsd_error_number(i));
    }
}

TEST(XenbusConformance, StatesHaveTheHeadersNumbers) {
    const XenbusState ours[] = {
        XenbusState::unknown,     XenbusState::initialising,  XenbusState::init_wait,
        XenbusState::initialised, XenbusState::connected,     XenbusState::closing,
        XenbusState::closed,      XenbusState::reconfiguring, XenbusState::reconfigured,
    };
    ASSERT_EQ(real_xenbus_states_count, std::size(ours));
    for (std::size_t i = 0; i < std::size(ours); ++i) {
        EXPECT_EQ(static_cast<long>(ours[i]), real_xenbus_states[i].value)
            << real_xenbus_states[i].name;
        // "XenbusStateInitWait" is named "InitWait", as Linux prints it.
        EXPECT_EQ(std::string("XenbusState") + std::string(pvsim::xen::name(ours[i])),
                  real_xenbus_states[i].name);
    }
}

}  // namespace
