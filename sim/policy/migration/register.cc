#include "sim/policy/migration/migration.h"

namespace slsim {

const Registry<MigrationPolicy>& migration_policies() {
  static const Registry<MigrationPolicy> registry = [] {
    Registry<MigrationPolicy> r;
    r.add<NoMigration>("none", "move no busy instance: wait for GPUs to free up (idle ones yield to waiting requests)");
    r.add<PreemptMigration>("preempt", "stop the victim's requests and restart them from scratch elsewhere");
    r.add<LiveTokenMigration>("live-token",
                              "move the victim by sending its tokens in rounds while it decodes (ServerlessLLM)");
    r.add<LiveKvMigration>("live-kv", "move the victim by copying its KV cache in stages while it decodes (Llumnix)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
