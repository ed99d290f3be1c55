//! Reading back a file outside the state (a registered server's certificate or users.acl, the
//! TLS files of etcd): a registration or a setting names it, and nothing guarantees what is
//! there. Only a regular file is read, never more than a limit, and opening it never waits (a
//! FIFO in its place would hold rctl forever; `/dev/zero` would grow it without end).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The most a certificate, key or CA bundle file may hold.
pub const PEM_LIMIT: u64 = 1024 * 1024;

/// The most a users.acl may hold (100,000 users take about 12 MiB).
pub const ACL_LIMIT: u64 = 256 * 1024 * 1024;

/// The bytes of the regular file at `path` (a link is followed to its target), refused with
/// [`io::ErrorKind::InvalidInput`] when it is anything else (a device, a FIFO, a socket, a
/// directory) or holds more than `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        // A FIFO opens at once instead of waiting for a writer; it is refused just below.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    read_capped(file, limit)
}

/// [`read_regular`] of a UTF-8 text file (a PEM file, a password), wiped from memory when
/// dropped; `None` when it cannot be read or is not UTF-8.
pub fn read_text(path: &Path, limit: u64) -> Option<zeroize::Zeroizing<String>> {
    let data = read_regular(path, limit).ok()?;
    String::from_utf8(data).ok().map(zeroize::Zeroizing::new)
}

fn read_capped(file: File, limit: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    // The size a file reports says nothing for certain: stop reading at the limit.
    file.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        let big = read_regular(&file, 4).unwrap_err();
        assert_eq!(big.kind(), io::ErrorKind::InvalidInput);
        // /dev/zero would never end; a directory is not a file.
        for path in [Path::new("/dev/zero"), dir.path()] {
            let e = read_regular(path, 1 << 20).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{path:?}");
        }
        // A FIFO with no writer: refused at once, not waited on.
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read_regular(&fifo, 1 << 20).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        // A link to a regular file reads the file.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular(&link, 5).unwrap(), b"12345");
    }
}
