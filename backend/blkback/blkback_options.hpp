// What the pvsim-backend daemon decides for every vbd it serves, as opposed
// to what each vbd's own keys decide (vbd_config.hpp).
#pragma once

#include <string>

#include "backend/storage/make_engine.hpp"

namespace pvsim::backend::blkback {

struct BlkbackOptions {
    // --io-engine: io_uring, the thread pool, or io_uring falling back to
    // the pool where it cannot be set up.
    storage::EngineKind engine = storage::EngineKind::automatic;
    // The run's shared-memory tag (RunDir::shm_tag): each ring keeps the
    // requests it takes where the next backend finds them after a kill
    // (request_journal.hpp). Empty: no journal.
    std::string journal_run_tag;
};

}  // namespace pvsim::backend::blkback
