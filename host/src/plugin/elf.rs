//! A look at an ELF file's headers before the dynamic linker maps it.
//!
//! `dlopen` trusts the headers: a truncated file whose loadable segments reach past its end
//! is mapped anyway, and the first touch of a missing page kills the process with SIGBUS.
//! So the loader refuses such a file here, with the offsets, before `dlopen` sees it. It
//! also checks that the file is a shared library for this machine.

use std::{fs::File, io::Read, path::Path};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const ET_DYN: u16 = 3;

/// The ELF machine of this build.
fn host_machine() -> Option<(u16, &'static str)> {
    if cfg!(target_arch = "x86_64") {
        Some((62, "x86-64"))
    } else if cfg!(target_arch = "aarch64") {
        Some((183, "AArch64"))
    } else {
        None
    }
}

/// Why the file cannot be a loadable shared library here: (problem, expected, found).
pub type Problem = (String, String, String);

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Checks a 64-bit little-endian ELF file's type, machine and that everything its headers
/// point at lies within the file.
pub fn check(path: &Path) -> Result<(), Problem> {
    let mut file = File::open(path).map_err(|e| (e.to_string(), String::new(), String::new()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut header = [0u8; 64];
    if file.read_exact(&mut header).is_err() {
        return Err((
            "the file is too short to hold an ELF header".into(),
            "at least 64 bytes".into(),
            format!("{size} bytes"),
        ));
    }
    if header[4] != 2 || header[5] != 1 {
        return Err((
            "not a 64-bit little-endian ELF file".into(),
            "ELF class 64, little-endian".into(),
            format!("class byte {}, data byte {}", header[4], header[5]),
        ));
    }
    let e_type = u16_at(&header, 16);
    if e_type != ET_DYN {
        return Err((
            "the ELF file is not a shared library".into(),
            "ELF type DYN (a shared object)".into(),
            format!("ELF type {e_type}"),
        ));
    }
    if let Some((machine, name)) = host_machine() {
        let found = u16_at(&header, 18);
        if found != machine {
            return Err((
                "the shared library was built for another processor".into(),
                format!("ELF machine {machine} ({name})"),
                format!("ELF machine {found}"),
            ));
        }
    }
    let (phoff, shoff) = (u64_at(&header, 32), u64_at(&header, 40));
    let (phentsize, phnum) = (
        u64::from(u16_at(&header, 54)),
        u64::from(u16_at(&header, 56)),
    );
    let (shentsize, shnum) = (
        u64::from(u16_at(&header, 58)),
        u64::from(u16_at(&header, 60)),
    );
    let truncated = |what: String, end: u64| {
        (
            format!("the file is truncated: {what} ends at byte {end}, past its end"),
            format!("a file of at least {end} bytes"),
            format!("{size} bytes"),
        )
    };
    let ph_end = phoff.saturating_add(phentsize.saturating_mul(phnum));
    if ph_end > size {
        return Err(truncated("the program header table".into(), ph_end));
    }
    if shnum > 0 {
        let sh_end = shoff.saturating_add(shentsize.saturating_mul(shnum));
        if sh_end > size {
            return Err(truncated("the section header table".into(), sh_end));
        }
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(phoff))
        .and_then(|_| file.read_exact(&mut table))
        .map_err(|e| {
            (
                format!("cannot read the program headers: {e}"),
                String::new(),
                String::new(),
            )
        })?;
    if phentsize < 56 {
        return Err((
            "malformed program headers".into(),
            "entries of 56 bytes".into(),
            format!("entries of {phentsize} bytes"),
        ));
    }
    for (i, entry) in table.chunks_exact(phentsize as usize).enumerate() {
        let p_type = u32_at(entry, 0);
        if p_type != PT_LOAD && p_type != PT_DYNAMIC {
            continue;
        }
        let end = u64_at(entry, 8).saturating_add(u64_at(entry, 32));
        if end > size {
            let what = if p_type == PT_LOAD {
                "loadable segment"
            } else {
                "dynamic segment"
            };
            return Err(truncated(format!("{what} {i}"), end));
        }
    }
    Ok(())
}
