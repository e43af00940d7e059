//! The workspace's one place for unsafe code (Cargo.toml's lints): thin
//! wrappers of C library calls that have no safe (or no sound) binding in
//! our dependencies, each block with why it is sound.
//!
//! `heap`: glibc's allocator statistics and `malloc_trim`, for dmvpnd's
//! heap trimming (dmvpnd/src/heap.rs): a hub frees tens of megabytes at once
//! after a restart burst or a large state query, and glibc keeps them.
//!
//! `yang` (feature `yang`, northbound only: the protocol crates must not
//! pull libyang in): libyang's data tree printer to memory. yang2's
//! `Data::print_string`/`print_bytes` copy the text libyang mallocs and
//! never free it, so every state query and notification leaked its whole
//! text. Only that tree print is wrapped here; the rest of yang2 is used
//! as it is.
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

#[cfg(feature = "yang")]
pub mod yang {
    use std::ffi::{CStr, c_char, c_void};

    use yang2::Error;
    use yang2::context::Context;
    use yang2::data::{Data, DataDiff, DataFormat, DataNodeRef, DataPrinterFlags, DataTree};
    use yang2::ffi;
    use yang2::schema::{SchemaModule, SchemaOutputFormat, SchemaPrinterFlags};

    mod sealed {
        pub trait Sealed {}
    }

    /// yang2's own data types: a tree, a node of one, a diff. Sealed, since
    /// `Data::raw` is public and any other type could return any pointer;
    /// these only make one from a live tree (or in their `unsafe`
    /// constructors, whose callers answer for it).
    pub trait Printable<'a>: Data<'a> + sealed::Sealed {}

    impl sealed::Sealed for DataTree<'_> {}
    impl<'a> Printable<'a> for DataTree<'a> {}
    impl sealed::Sealed for DataNodeRef<'_, '_> {}
    impl<'a> Printable<'a> for DataNodeRef<'_, 'a> {}
    impl sealed::Sealed for DataDiff<'_> {}
    impl<'a> Printable<'a> for DataDiff<'a> {}

    unsafe extern "C" {
        /// The C library's `free`: libyang allocates its output buffer with
        /// `malloc`/`realloc` of the same C library (it is linked in
        /// statically, the `bundled` feature, and has no allocator hook).
        fn free(ptr: *mut c_void);
    }

    /// Frees libyang's output buffer when dropped, whatever the outcome.
    struct Buffer(*mut c_char);

    impl Drop for Buffer {
        fn drop(&mut self) {
            // SAFETY: the pointer is null or the buffer `lyd_print_mem`
            // allocated with the C `malloc`/`realloc`, which nothing else
            // owns or frees (libyang's `ly_out_free(out, NULL, 0)` leaves it
            // to the caller); it is freed once, here. `free(NULL)` is a no-op.
            unsafe { free(self.0.cast()) };
        }
    }

    /// `tree` (a whole tree or one node, with its siblings if `flags` says
    /// so) printed as yang2's `Data::print_string` prints it, text for
    /// text, without leaking libyang's buffer.
    ///
    /// `Ok(None)` when libyang prints nothing at all (it gives no buffer).
    /// The text is copied into the `String` lossily, as yang2 does: libyang
    /// checks every string value is UTF-8 when it stores it, so its XML and
    /// JSON are UTF-8 and nothing is replaced in practice.
    ///
    /// `DataFormat::LYB` is binary and not NUL-terminated: refused
    /// (`LY_EINVAL`) without printing.
    ///
    /// On failure, the context's last libyang error (as yang2 reports its
    /// own failures) with the printer's return code; a partial buffer
    /// libyang leaves behind is freed too.
    pub fn print_data<'a, T>(
        tree: &T,
        format: DataFormat,
        flags: DataPrinterFlags,
    ) -> Result<Option<String>, Error>
    where
        T: Printable<'a>,
    {
        if format == DataFormat::LYB {
            return Err(Error {
                errcode: ffi::LY_ERR::LY_EINVAL,
                msg: Some("LYB is binary: not printed to a string".to_owned()),
                path: None,
                apptag: None,
            });
        }
        let mut buffer = Buffer(std::ptr::null_mut());
        // SAFETY: `buffer.0` is a valid `char *` to write the buffer pointer
        // to; `tree.raw()` (a `Printable`: yang2's own types) is null (an
        // empty tree, which libyang prints as such) or a node of the tree
        // `tree` owns or borrows, so it stays alive and unmodified for the
        // call; libyang only reads the tree. Format and flags are yang2's
        // values of libyang's enum and bit flags.
        let ret =
            unsafe { ffi::lyd_print_mem(&mut buffer.0, tree.raw(), format as u32, flags.bits()) };
        if ret != ffi::LY_ERR::LY_SUCCESS {
            // `buffer` may hold what was printed before the failure: freed
            // when it drops.
            let mut error = Error::new(tree.context());
            error.errcode = ret;
            return Err(error);
        }
        if buffer.0.is_null() {
            return Ok(None);
        }
        // SAFETY: on success libyang's memory output keeps the buffer
        // NUL-terminated after every write (XML and JSON have no NUL of
        // their own), and the buffer lives until `buffer` drops, after the
        // copy.
        let text = unsafe { CStr::from_ptr(buffer.0) };
        Ok(Some(text.to_string_lossy().into_owned()))
    }

    /// `module` printed as yang2's `SchemaModule::print_string` prints it
    /// (YANG, YIN, a tree diagram), without leaking libyang's buffer (yang2
    /// leaks it as it does for data: a NETCONF `get-schema` of a module
    /// libyang ships itself printed one each time). `context` is the
    /// module's, for the error.
    pub fn print_schema(
        module: &SchemaModule<'_>,
        context: &Context,
        format: SchemaOutputFormat,
        flags: SchemaPrinterFlags,
    ) -> Result<String, Error> {
        let mut buffer = Buffer(std::ptr::null_mut());
        // SAFETY: `buffer.0` is a valid `char *` to write the buffer
        // pointer to; `module.as_raw()` is a module of a live context
        // (yang2 makes a `SchemaModule` only from one, or in `unsafe`
        // constructors whose callers answer for it), which the borrow
        // keeps alive; libyang only reads it. Format and flags are yang2's
        // values of libyang's enum and bit flags.
        let ret = unsafe {
            ffi::lys_print_mem(&mut buffer.0, module.as_raw(), format as u32, flags.bits())
        };
        if ret != ffi::LY_ERR::LY_SUCCESS {
            let mut error = Error::new(context);
            error.errcode = ret;
            return Err(error);
        }
        if buffer.0.is_null() {
            return Ok(String::new());
        }
        // SAFETY: as in `print_data`: NUL-terminated text, alive until
        // `buffer` drops after the copy.
        let text = unsafe { CStr::from_ptr(buffer.0) };
        Ok(text.to_string_lossy().into_owned())
    }
}
