//! The etcd store's reads: one snapshot of the prefix in one linearizable request, later reads
//! at its revision on the same member, each remembered so the commit can compare it.

use super::*;

impl EtcdStore {
    /// One linearizable request: the cluster's latest revision, every blob and every deletion
    /// marker at it. Linearizable, so a command sees everything done before it started, through
    /// any member: a script's `users add` then `users update` through two members works.
    pub(super) fn take_snapshot(&self) -> std::result::Result<Snapshot, etcd_client::Error> {
        let spaces = self.eager_ranges();
        let mut reads: Vec<TxnOp> = spaces
            .iter()
            .map(|(start, end)| {
                let options = GetOptions::new()
                    .with_range(end.clone())
                    .with_limit(PREFETCH);
                TxnOp::get(start.clone(), Some(options))
            })
            .collect();
        // The pointers of the first etcd layout (rctl 0.1's first etcd store: `m/NAME` and
        // `b/…` pieces), which this one does not read.
        let earlier = self.key("m", "");
        let options = GetOptions::new()
            .with_range(range_end(&earlier))
            .with_count_only();
        reads.push(TxnOp::get(earlier, Some(options)));
        let kv = self.kv.clone();
        let response = super::retry::retried(&self.runtime, true, || {
            let (mut kv, reads) = (kv.clone(), reads.clone());
            async move { kv.txn(Txn::new().and_then(reads)).await }
        })?;
        let mut snapshot = Snapshot {
            revision: response.header().map_or(0, |h| h.revision()),
            complete: true,
            ..Snapshot::default()
        };
        let answers = response.op_responses();
        if let Some(etcd_client::TxnOpResponse::Get(earlier)) = answers.get(spaces.len()) {
            snapshot.earlier_layout = earlier.count() > 0;
        }
        for ((_, end), answer) in spaces.iter().zip(answers) {
            if let etcd_client::TxnOpResponse::Get(get) = answer {
                for kv in get.kvs() {
                    snapshot
                        .small
                        .insert(kv.key().to_vec(), (kv.value().to_vec(), kv.mod_revision()));
                }
                // The rest of a large state at the same revision, a page at a time: a few
                // range reads instead of one read per key later.
                if let Some(last) = get.kvs().last().filter(|_| get.more()) {
                    let complete = self.prefetch_rest(&mut snapshot, end, last.key())?;
                    snapshot.complete &= complete;
                }
            }
        }
        Ok(snapshot)
    }

    /// What a snapshot reads ahead, as ranges (start, end): the blobs but the per-registration
    /// folders, and the deletion markers. Its size does not grow with the fleet.
    fn eager_ranges(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let blobs = self.key("k", "");
        let mut ranges = Vec::new();
        let mut from = blobs.clone();
        for folder in self.lazy_folders() {
            ranges.push((from, folder.clone()));
            from = range_end(&folder);
        }
        ranges.push((from, range_end(&blobs)));
        let markers = self.key("d", "");
        let end = range_end(&markers);
        ranges.push((markers, end));
        ranges
    }

    /// The keys that start the per-registration folders (`P k/servers/`, …), sorted.
    fn lazy_folders(&self) -> Vec<Vec<u8>> {
        let mut folders: Vec<Vec<u8>> = self
            .layout
            .per_registration
            .iter()
            .map(|f| self.key("k", &format!("{f}/")))
            .collect();
        folders.sort();
        folders
    }

    /// Whether `key` (or every key starting with it) is in a per-registration folder.
    fn is_lazy(&self, key: &[u8]) -> bool {
        self.lazy_folders().iter().any(|f| key.starts_with(f))
    }

    /// Whether a range starting with `start` holds keys of a per-registration folder.
    fn reaches_lazy(&self, start: &[u8]) -> bool {
        self.lazy_folders()
            .iter()
            .any(|f| f.starts_with(start) || start.starts_with(f))
    }

    /// The keys after `last` up to `end`, at the snapshot's revision, in
    /// pages of [`PREFETCH`], at most [`PREFETCH_PAGES`] of them; false when more are left.
    fn prefetch_rest(
        &self,
        snapshot: &mut Snapshot,
        end: &[u8],
        last: &[u8],
    ) -> std::result::Result<bool, etcd_client::Error> {
        let end = end.to_vec();
        let mut from = last.to_vec();
        from.push(0);
        for _ in 0..PREFETCH_PAGES {
            let options = GetOptions::new()
                .with_range(end.clone())
                .with_limit(PREFETCH)
                .with_revision(snapshot.revision)
                .with_serializable();
            let kv = self.kv.clone();
            let response = super::retry::retried(&self.runtime, true, || {
                let (mut kv, key, options) = (kv.clone(), from.clone(), options.clone());
                async move { kv.get(key, Some(options)).await }
            })?;
            for kv in response.kvs() {
                snapshot
                    .small
                    .insert(kv.key().to_vec(), (kv.value().to_vec(), kv.mod_revision()));
            }
            match response.kvs().last() {
                Some(last) if response.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(true),
            }
        }
        Ok(false)
    }

    /// A prefix of the first etcd layout is refused, not read as empty (where `auth init`
    /// would make a second CA).
    pub(super) fn refuse_earlier_layout(&self, snapshot: &Snapshot) -> Result<()> {
        if snapshot.earlier_layout {
            return Err(Error::EarlierEtcdLayout {
                location: self.location.clone(),
            });
        }
        Ok(())
    }

    /// The transaction's snapshot, taken now if this is its first read.
    pub(super) fn snapshot<'t>(&self, tx: &'t mut Tx) -> Result<&'t Snapshot> {
        let snapshot = match tx.snapshot.take() {
            Some(snapshot) => snapshot,
            None => {
                let snapshot = self
                    .take_snapshot()
                    .map_err(|e| unreachable_error(&self.location, e))?;
                self.refuse_earlier_layout(&snapshot)?;
                snapshot
            }
        };
        Ok(tx.snapshot.insert(snapshot))
    }

    pub(super) fn tx(&self) -> MutexGuard<'_, Tx> {
        // A panic elsewhere cannot leave the buffer half-changed in a way that matters: it is
        // only ever committed whole, and a poisoned one is dropped.
        self.tx.lock().unwrap_or_else(|poisoned| {
            let mut tx = poisoned.into_inner();
            *tx = Tx::default();
            tx
        })
    }

    pub(super) fn key(&self, space: &str, name: &str) -> Vec<u8> {
        format!("{}{space}/{name}", self.prefix).into_bytes()
    }

    pub(super) fn marker(&self, start: &[u8]) -> Vec<u8> {
        marker(&self.prefix, start)
    }

    /// A read, retried through an election (see [`super::retry`]).
    pub(super) fn read_retried<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        super::retry::retried(&self.runtime, true, call)
            .map_err(|e| unreachable_error(&self.location, e))
    }

    /// The per-registration keys among `keys` not read yet, read at the snapshot's revision in
    /// one transaction per [`MAX_TXN_OPS`] of them and kept for the reads that follow (a page
    /// of signing requests reads its registrations' records in one round trip, not one each).
    pub(super) fn fetch_keys(&self, tx: &mut Tx, keys: Vec<Vec<u8>>) -> Result<()> {
        let snapshot = self.snapshot(tx)?;
        let revision = snapshot.revision;
        let mut wanted: Vec<Vec<u8>> = keys
            .into_iter()
            .filter(|k| self.is_lazy(k))
            .filter(|k| !snapshot.fetched.contains_key(k) && !snapshot.fetched_whole(k))
            .collect();
        wanted.sort();
        wanted.dedup();
        for chunk in wanted.chunks(MAX_TXN_OPS) {
            let reads: Vec<TxnOp> = chunk
                .iter()
                .map(|k| TxnOp::get(k.clone(), Some(GetOptions::new().with_revision(revision))))
                .collect();
            let kv = self.kv.clone();
            let response = self.read_retried(|| {
                let (mut kv, reads) = (kv.clone(), reads.clone());
                async move { kv.txn(Txn::new().and_then(reads)).await }
            })?;
            let Some(snapshot) = tx.snapshot.as_mut() else {
                break;
            };
            for (key, answer) in chunk.iter().zip(response.op_responses()) {
                if let etcd_client::TxnOpResponse::Get(get) = answer {
                    let found = get
                        .kvs()
                        .first()
                        .map(|kv| (kv.value().to_vec(), kv.mod_revision()));
                    snapshot.fetched.insert(key.clone(), found);
                }
            }
        }
        Ok(())
    }

    /// A read at the snapshot's revision, from the member that took it (which has applied
    /// that revision, so the read needs no round to the others).
    pub(super) fn get(
        &self,
        tx: &mut Tx,
        key: Vec<u8>,
        options: GetOptions,
    ) -> Result<etcd_client::GetResponse> {
        let revision = self.snapshot(tx)?.revision;
        let options = options.with_revision(revision).with_serializable();
        let kv = self.kv.clone();
        self.read_retried(|| {
            let (mut kv, key, options) = (kv.clone(), key.clone(), options.clone());
            async move { kv.get(key, Some(options)).await }
        })
    }

    /// One key as the snapshot has it, and its revision of last change (0: absent).
    pub(super) fn get_key(&self, tx: &mut Tx, key: &[u8]) -> Result<Option<Versioned>> {
        let lazy = self.is_lazy(key);
        // Blobs and markers: the snapshot has them all, unless there were too many; a
        // registration once it was read.
        let small = key.starts_with(&self.key("k", "")) || key.starts_with(&self.key("d", ""));
        let snapshot = self.snapshot(tx)?;
        if lazy {
            if let Some(found) = snapshot.fetched.get(key) {
                return Ok(found.clone());
            }
            if snapshot.fetched_whole(key) {
                return Ok(None);
            }
        } else if small && (snapshot.complete || snapshot.small.contains_key(key)) {
            return Ok(snapshot.small.get(key).cloned());
        }
        let response = self.get(tx, key.to_vec(), GetOptions::new())?;
        let found = response
            .kvs()
            .first()
            .map(|kv| (kv.value().to_vec(), kv.mod_revision()));
        if lazy && let Some(snapshot) = tx.snapshot.as_mut() {
            snapshot.fetched.insert(key.to_vec(), found.clone());
        }
        Ok(found)
    }

    /// One key, as this transaction sees it; remembered for the commit's comparison.
    pub(super) fn read_key(&self, tx: &mut Tx, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(change) = tx.writes.get(key) {
            return Ok(change.clone());
        }
        let found = self.get_key(tx, key)?;
        tx.keys.insert(
            key.to_vec(),
            found.as_ref().map_or(0, |(_, changed)| *changed),
        );
        Ok(found.map(|(value, _)| value))
    }

    /// Every key starting with `start`, in key order, as this transaction sees it;
    /// remembered (with its deletion marker) for the commit's comparison.
    pub(super) fn read_range(
        &self,
        tx: &mut Tx,
        start: &[u8],
        keys_only: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let end = range_end(start);
        if !tx.ranges.contains_key(start) {
            let marker = self.marker(start);
            let changed = self.get_key(tx, &marker)?.map_or(0, |(_, changed)| changed);
            tx.ranges.insert(start.to_vec(), (end.clone(), changed));
        }
        let mut found = Vec::new();
        let reaches_lazy = self.reaches_lazy(start);
        let snapshot = self.snapshot(tx)?;
        if reaches_lazy {
            // Values too, kept: a listing of registrations is followed by reading each.
            let mut versioned = Vec::new();
            self.fetch_range(tx, start, &end, false, &mut versioned)?;
            if let Some(snapshot) = tx.snapshot.as_mut() {
                snapshot.fetched_ranges.insert(start.to_vec(), end.clone());
                for (key, value) in &versioned {
                    snapshot.fetched.insert(key.clone(), Some(value.clone()));
                }
            }
            found.extend(versioned.into_iter().map(|(key, (value, _))| (key, value)));
        } else if snapshot.complete && start.starts_with(&self.key("k", "")) {
            found.extend(
                snapshot
                    .small
                    .range(start.to_vec()..end.clone())
                    .map(|(key, (value, _))| (key.clone(), value.clone())),
            );
        } else {
            let mut versioned = Vec::new();
            self.fetch_range(tx, start, &end, keys_only, &mut versioned)?;
            found.extend(versioned.into_iter().map(|(key, (value, _))| (key, value)));
        }
        let mut changes = tx.writes.range(start.to_vec()..end).peekable();
        if changes.peek().is_none() {
            return Ok(found);
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = found.into_iter().collect();
        for (key, change) in changes {
            match change {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_iter().collect())
    }

    /// Every key from `start` to `end` at the snapshot, a page at a time, with the revision of
    /// its last change.
    pub(super) fn fetch_range(
        &self,
        tx: &mut Tx,
        start: &[u8],
        end: &[u8],
        keys_only: bool,
        found: &mut Vec<(Vec<u8>, Versioned)>,
    ) -> Result<()> {
        let mut from = start.to_vec();
        loop {
            let mut options = GetOptions::new().with_range(end.to_vec()).with_limit(PAGE);
            if keys_only {
                options = options.with_keys_only();
            }
            let response = self.get(tx, from, options)?;
            found.extend(
                response
                    .kvs()
                    .iter()
                    .map(|kv| (kv.key().to_vec(), (kv.value().to_vec(), kv.mod_revision()))),
            );
            match response.kvs().last() {
                Some(last) if response.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(()),
            }
        }
    }

    /// The lines of a blob kept one key per line, joined.
    pub(super) fn read_lines(&self, tx: &mut Tx, space: &str) -> Result<Vec<u8>> {
        let start = self.key(space, "");
        let mut data = Vec::new();
        for (key, line) in self.read_range(tx, &start, false)? {
            // Each record is checked by its own key: joined into lines unchecked, a value put
            // by hand ('not json', no newline) was taken for a torn last line and skipped, or
            // ran into the next record and made the whole state unreadable without a name.
            self.check_record(space, &key, &line)?;
            data.extend_from_slice(&line);
        }
        if space == "a" {
            for record in &tx.records {
                data.extend_from_slice(record);
            }
        }
        Ok(data)
    }

    /// Refuses a record that is not one whole line of its kind: a user named by its key, or an
    /// audit record that is a JSON object. The error names the etcd key.
    pub(super) fn check_record(&self, space: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let name = String::from_utf8_lossy(&key[self.prefix.len()..]).into_owned();
        let corrupt = |reason: String| Error::CorruptState {
            path: self.locate(&name),
            reason,
        };
        let Some(body) = value.strip_suffix(b"\n") else {
            return Err(corrupt("does not end in a newline".to_string()));
        };
        if space == "u" {
            if body.contains(&b'\n') {
                return Err(corrupt("holds more than one line".to_string()));
            }
            let user =
                (self.layout.line_key)(body).map_err(|e| corrupt(format!("not a user: {e}")))?;
            if name != format!("u/{user}") {
                return Err(corrupt(format!(
                    "holds user {user:?}, not the one its key names"
                )));
            }
        } else {
            // One record per line (a change appends all of its records at once); an empty line,
            // which the audit reader has always passed over, carries nothing.
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line)
                    .map_err(|e| corrupt(format!("not an audit record: {e}")))?;
            }
        }
        Ok(())
    }

    /// Whether any key starts with `start` (without remembering the read: for listing).
    pub(super) fn any_in(&self, tx: &mut Tx, start: &[u8]) -> Result<bool> {
        let options = GetOptions::new()
            .with_range(range_end(start))
            .with_count_only();
        Ok(self.get(tx, start.to_vec(), options)?.count() > 0)
    }

    /// The users of `data` (lines of users.jsonl) by key.
    pub(super) fn user_lines(&self, data: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut lines = BTreeMap::new();
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let name = (self.layout.line_key)(line).map_err(|reason| {
                Error::from(StoreError::UserLine {
                    location: self.location.clone(),
                    problem: reason.to_string(),
                })
            })?;
            let mut line = line.to_vec();
            line.push(b'\n');
            lines.insert(self.key("u", &name), line);
        }
        Ok(lines)
    }

    pub(super) fn refuse_if_read_only(&self) -> Result<()> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                location: self.location.clone(),
            }
            .into());
        }
        Ok(())
    }
}
