// XS_TRANSACTION_START and XS_TRANSACTION_END (tools/xenstored/
// transaction.c: do_transaction_start(), do_transaction_end()).
#include <cerrno>
#include <limits>

#include "xenstore/store/error.hpp"
#include "xenstore/store/payload.hpp"
#include "xenstore/store/requests.hpp"

namespace pvsim::xenstore::store {

// Replies the new transaction's id, decimal and nul-terminated. Ids are per
// connection, count up from 1 and skip 0 and ids still open.
std::string do_transaction_start(RequestContext& context, std::string_view) {
    if (context.transaction != nullptr) {
        throw XsError(EBUSY);  // no nested transactions
    }
    Connection& connection = context.connection;
    const Quotas& quotas = context.state.quotas;
    // transaction.c lets one more in than the quota says; pvsim stops at it.
    if (!context.caller.privileged() && connection.transactions.size() >= quotas.transactions) {
        throw QuotaError(ENOSPC, "transactions", quotas.transactions);
    }
    std::uint32_t id = 0;
    do {
        id = connection.next_transaction_id++;
    } while (id == 0 || connection.transactions.contains(id));
    connection.transactions.emplace(
        id, std::make_unique<Transaction>(context.state.tree, context.caller,
                                          context.caller.privileged()
                                              ? std::numeric_limits<std::size_t>::max()
                                              : quotas.transaction_nodes));
    std::string reply = std::to_string(id);
    reply += '\0';
    return reply;
}

// "T\0" commits, "F\0" aborts. Either way the transaction is over, even when
// the commit fails (EAGAIN: the caller starts a new one and retries).
std::string do_transaction_end(RequestContext& context, std::string_view payload) {
    const auto arg = one_arg(payload);
    if (!arg || (*arg != "T" && *arg != "F")) {
        throw XsError(EINVAL);
    }
    if (context.transaction == nullptr) {
        throw XsError(ENOENT);
    }
    auto& transactions = context.connection.transactions;
    const auto it = transactions.find(context.tx_id);
    std::unique_ptr<Transaction> transaction = std::move(it->second);
    transactions.erase(it);
    context.transaction = nullptr;
    if (*arg == "T") {
        auto events = transaction->commit(context.state.quotas.nodes);
        context.events.insert(context.events.end(), std::make_move_iterator(events.begin()),
                              std::make_move_iterator(events.end()));
    }
    return ok();
}

}  // namespace pvsim::xenstore::store
