//! The generated constant tables (tools/gen_constants.py): the same known values as tests/test_constants.py.
use auditsql_core::interpret::{arches, errno, syscalls};
use auditsql_core::record::{fields, msgtypes};

#[test]
fn msg_types() {
    for (n, name) in [
        (1300, "SYSCALL"),
        (1320, "EOE"),
        (1327, "PROCTITLE"),
        (1306, "SOCKADDR"),
        (1309, "EXECVE"),
        (1307, "CWD"),
        (1302, "PATH"),
        (1112, "USER_LOGIN"),
        (1100, "USER_AUTH"),
        (1006, "LOGIN"),
        (1400, "AVC"),
        (1329, "REPLACE"),
        (1500, "APPARMOR"),
    ] {
        assert_eq!(msgtypes::type_name(n), Some(name));
        assert_eq!(msgtypes::type_number(name.as_bytes()), Some(n));
    }
    assert_eq!(msgtypes::type_number(b"AA"), Some(1500));
    assert_eq!(msgtypes::type_name(0), None);
    assert_eq!(msgtypes::type_name(u32::MAX), None);
    assert_eq!(msgtypes::type_number(b"syscall"), None);
    assert_eq!(msgtypes::type_number(b""), None);
    for &(n, name) in msgtypes::MSG_TYPES.iter() {
        assert_eq!(msgtypes::type_number(name.as_bytes()), Some(n));
        assert!((1000..3000).contains(&n));
    }
}

#[test]
fn field_formats() {
    for (field, fmt) in [
        ("auid", "numeric decimal"),
        ("exe", "encoded"),
        ("mode", "numeric octal"),
        ("arch", "numeric hexadecimal"),
        ("saddr", "encoded"),
        ("proctitle", "encoded"),
        ("dev", "numeric hexadecimal-tuple"),
        ("rdev", "numeric hexadecimal-tuple"),
        ("key", "encoded"),
        ("fp", "numeric hexadecimal"),
    ] {
        assert_eq!(fields::field_format(field.as_bytes()), Some(fmt));
    }
    assert_eq!(fields::field_format(b"a0"), None);
    assert_eq!(fields::field_format(b"\xff"), None);
}

#[test]
fn syscall_tables() {
    for (arch, nr, name) in [
        ("x86_64", 59, "execve"),
        ("x86_64", 322, "execveat"),
        ("x86_64", 42, "connect"),
        ("x86_64", 43, "accept"),
        ("x86_64", 288, "accept4"),
        ("x86_64", 49, "bind"),
        ("x86_64", 56, "clone"),
        ("x86_64", 57, "fork"),
        ("x86_64", 58, "vfork"),
        ("x86_64", 435, "clone3"),
        ("i386", 11, "execve"),
        ("i386", 102, "socketcall"),
        ("aarch64", 221, "execve"),
        ("aarch64", 203, "connect"),
        ("ppc64", 11, "execve"),
        ("ppc64le", 11, "execve"),
        ("arm", 11, "execve"),
        ("s390x", 11, "execve"),
    ] {
        assert_eq!(syscalls::syscall_name(arch, nr), Some(name));
        assert_eq!(syscalls::syscall_number(arch, name), Some(nr));
    }
    assert_eq!(syscalls::syscall_name("x86_64", -1), None);
    assert_eq!(syscalls::syscall_name("x86_64", i64::MAX), None);
    assert_eq!(syscalls::syscall_name("mips", 4011), None);
    assert_eq!(syscalls::syscall_number("x86_64", "nosuch"), None);
    for (arch, (names, numbers)) in syscalls::SYSCALLS.iter() {
        assert!(arches::arch_number(arch).is_some(), "{arch}");
        assert_eq!(names.len(), numbers.len());
        for &(nr, name) in names.iter() {
            assert_eq!(syscalls::syscall_number(arch, name), Some(i64::from(nr)));
        }
    }
}

#[test]
fn errno_tables() {
    for (n, name) in [
        (2, "ENOENT"),
        (13, "EACCES"),
        (111, "ECONNREFUSED"),
        (115, "EINPROGRESS"),
        (98, "EADDRINUSE"),
        (11, "EAGAIN"),
    ] {
        assert_eq!(errno::errno_name(n), Some(name));
        assert_eq!(errno::errno_number(name), Some(n));
    }
    assert_eq!(errno::errno_number("EWOULDBLOCK"), Some(11));
    assert_eq!(errno::errno_number("EDEADLOCK"), Some(35));
    assert_eq!(errno::errno_name(35), Some("EDEADLK"));
    assert_eq!(errno::errno_name(0), None);
    assert_eq!(errno::errno_name(-2), None);
    assert!(errno::ERRNO_NAMES.iter().all(|&(_, n)| n != "EWOULDBLOCK"));
}

#[test]
fn arch_tables() {
    for (n, name, bits, big) in [
        (0xC000003E, "x86_64", 64, false),
        (0x40000003, "i386", 32, false),
        (0xC00000B7, "aarch64", 64, false),
        (0x40000028, "arm", 32, false),
        (0x00000028, "armeb", 32, true),
        (0x00000014, "ppc", 32, true),
        (0x80000015, "ppc64", 64, true),
        (0xC0000015, "ppc64le", 64, false),
        (0x00000016, "s390", 32, true),
        (0x80000016, "s390x", 64, true),
        (0xC00000F3, "riscv64", 64, false),
        (0x40000008, "mipsel", 32, false),
        (0x00000008, "mips", 32, true),
    ] {
        assert_eq!(arches::arch_name(n), Some(name));
        assert_eq!(arches::arch_number(name), Some(n));
        assert_eq!(arches::arch_bits(n), Some(bits));
        assert_eq!(arches::arch_big_endian(n), big);
    }
    assert_eq!(arches::arch_name(0), None);
    assert_eq!(arches::arch_bits(0), None);
    assert!(!arches::arch_big_endian(0));
    assert_eq!(arches::ARCH_NUMBERS.len(), arches::AUDIT_ARCHES.len());
}
