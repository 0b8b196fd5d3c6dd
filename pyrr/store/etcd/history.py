"""What the store has seen of an etcd cluster's history, to tell whether a member it fails
over to continues that history.

Resuming the watches from the last revision seen is right only on the same history. A
cluster rebuilt from a backup (`etcdctl snapshot restore`) answers on the same endpoints with
the backup's older revisions: a watch resumed there from a revision it has not reached yet is
created without complaint and then stays silent until the cluster's revision passes it,
missing both the restore itself and every change until then. If the restore happened while
every endpoint was unreachable, the store lists again anyway (an outage); it happens without
one when the member in use hangs or is cut off during the restore (only the probe's deadline
notices, and by then the others answer).

So before resuming on a member, the store reads its response header: another cluster id, a
revision lower than one already seen, or a raft term lower than one already seen (a restored
cluster starts its terms again) means another history, and the store lists again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class History:
    cluster_id: int | None = None
    revision: int = 0
    raft_term: int = 0

    def restart(self, header: Any) -> None:
        """A fresh list: from now on, this header's cluster is the history."""
        self.cluster_id = int(header.cluster_id)
        self.revision = int(header.revision)
        self.raft_term = int(header.raft_term)

    def note(self, header: Any) -> None:
        """A response of the cluster in use (a watch response, a probe)."""
        self.revision = max(self.revision, int(header.revision))
        self.raft_term = max(self.raft_term, int(header.raft_term))

    def breaks(self, header: Any) -> str | None:
        """Why a member answering with this header does not continue the history, or None."""
        cluster, rev, term = int(header.cluster_id), int(header.revision), int(header.raft_term)
        if self.cluster_id is not None and cluster != self.cluster_id:
            return f"cluster id {cluster:x}, not {self.cluster_id:x}"
        if rev < self.revision:
            return f"revision {rev} is behind {self.revision}, already seen"
        if term < self.raft_term:
            return f"raft term {term} is behind {self.raft_term}, already seen"
        return None
