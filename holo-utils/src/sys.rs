//! The workspace's one place for unsafe code (Cargo.toml's lints): thin
//! wrappers of C library calls that have no safe binding in our
//! dependencies, each block with why it is sound.
//!
//! `heap`: glibc's allocator statistics and `malloc_trim`, for dmvpnd's
//! heap trimming (dmvpnd/src/heap.rs): a hub frees tens of megabytes at once
//! after a restart burst or a large state query, and glibc keeps them.
#![allow(unsafe_code)]

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod heap {
    use std::ffi::c_int;

    /// glibc's `struct mallinfo2` (malloc.h, glibc 2.33 and later).
    #[repr(C)]
    struct MallInfo2 {
        arena: usize,
        ordblks: usize,
        smblks: usize,
        hblks: usize,
        hblkhd: usize,
        usmblks: usize,
        fsmblks: usize,
        uordblks: usize,
        fordblks: usize,
        keepcost: usize,
    }

    unsafe extern "C" {
        fn mallinfo2() -> MallInfo2;
        fn malloc_trim(pad: usize) -> c_int;
    }

    /// The bytes the arenas hold free.
    pub fn free_bytes() -> usize {
        // SAFETY: mallinfo2 takes no argument, only reads the allocator's
        // statistics under its own locks, and returns the struct by value
        // (declared above field for field as glibc defines it).
        unsafe { mallinfo2() }.fordblks
    }

    /// The bytes the arenas hold in use (mapped chunks included).
    pub fn used_bytes() -> usize {
        // SAFETY: as in `free_bytes`.
        let info = unsafe { mallinfo2() };
        info.uordblks.saturating_add(info.hblkhd)
    }

    /// Returns the free pages of every arena to the system.
    pub fn trim() {
        // SAFETY: malloc_trim takes a plain size and only releases pages
        // of chunks that are free, under the allocator's locks; no memory
        // the program holds is touched.
        unsafe { malloc_trim(0) };
    }
}

/// Another allocator: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub mod heap {
    pub fn free_bytes() -> usize {
        0
    }

    pub fn used_bytes() -> usize {
        0
    }

    pub fn trim() {}
}
