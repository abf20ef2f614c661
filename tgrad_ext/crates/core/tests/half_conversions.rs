//! The C kernels' half conversions (`src/render/c/half.c`) have two implementations: the F16C
//! instructions where the target has them, and a software one elsewhere (SSE2 kernels, other
//! architectures). Both must give the same bits, so a kernel's result does not depend on the ISA
//! it was built for. One C program, compiled with and without F16C, prints every conversion:
//! half -> float for all 65,536 halves, and float -> half for every half's value, both neighbours
//! of every rounding midpoint and the midpoint itself (ties to even), and the overflow, underflow
//! and subnormal edges. NaNs are excluded: their payloads are not specified.

use std::path::PathBuf;
use std::process::Command;

use tgrad_core::runtime::cache::private_temp_dir;
use tgrad_core::runtime::cpu::Compiler;
use tgrad_core::target::VectorIsa;

const PROBE: &str = r#"
#include <stdio.h>
#include <string.h>
#include "half.c"

static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static void down(float f) { printf("%08x %04x\n", to_bits(f), tg_f2h(f)); }

int main(void) {
  for (uint32_t h = 0; h < 65536; h++) {
    if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue; /* NaN */
    float f = tg_h2f((uint16_t)h);
    printf("%04x %08x\n", h, to_bits(f));
    down(f);
    if ((h & 0x7fffu) < 0x7c00u) {
      /* the midpoint between h and the next half away from zero, and its neighbours */
      uint32_t next = h + 1, sign = to_bits(f) & 0x80000000u, lo = to_bits(f) & 0x7fffffffu;
      uint32_t hi = to_bits(tg_h2f((uint16_t)next)) & 0x7fffffffu;
      /* between two halves the float bits are linear in the value; zero's next is 2^-24 */
      uint32_t mid = sign | (lo == 0 ? 0x33000000u : (lo + hi) / 2);
      if ((next & 0x7fffu) == 0x7c00u) mid = sign | 0x477ff000u;
      for (int d = -1; d <= 1; d++) down(from_bits(mid + d));
    }
  }
  /* subnormal floats, the smallest normals, huge values and infinities */
  for (uint32_t u = 0; u < 4096; u++) { down(from_bits(u)); down(from_bits(0x80000000u | u)); }
  uint32_t edges[] = {0x00800000u, 0x33000000u, 0x33000001u, 0x32ffffffu, 0x387fc000u, 0x477fe000u,
                      0x477fefffu, 0x477ff000u, 0x7f7fffffu, 0x7f800000u, 0xff800000u};
  for (unsigned i = 0; i < sizeof edges / sizeof edges[0]; i++) down(from_bits(edges[i]));
  return 0;
}
"#;

fn conversions(flags: &[&str], label: &str) -> String {
    let cc = Compiler::c().expect("a C compiler");
    let dir = private_temp_dir("tgrad-half").unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/render/c");
    std::fs::write(dir.join("probe.c"), PROBE).unwrap();
    let exe = dir.join("probe");
    let out = Command::new(&cc.path)
        .args(["-O2", "-std=gnu11"])
        .args(flags)
        .arg("-I")
        .arg(&src)
        .arg(dir.join("probe.c"))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the half probe does not compile {label}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ran = Command::new(&exe).output().unwrap();
    assert!(ran.status.success(), "the half probe failed {label}");
    std::fs::remove_dir_all(dir).unwrap();
    String::from_utf8(ran.stdout).unwrap()
}

#[test]
#[cfg(target_arch = "x86_64")]
fn f16c_and_software_conversions_agree_bit_for_bit() {
    if !VectorIsa::Avx2Fma.runs_here() {
        eprintln!("skipped: this CPU has no F16C (the software path is the only one it runs)");
        return;
    }
    let software = conversions(&["-march=x86-64"], "without F16C");
    let f16c = conversions(&["-march=x86-64", "-mf16c"], "with F16C");
    assert!(software.lines().count() > 200_000, "too few conversions");
    for (i, (s, h)) in software.lines().zip(f16c.lines()).enumerate() {
        assert_eq!(s, h, "line {i}: software and F16C conversions differ");
    }
    assert_eq!(software.lines().count(), f16c.lines().count());
    // the software path is what the F16C path is checked against: spot-check it by hand
    for (line, why) in [
        ("3c00 3f800000", "1.0"),
        ("0001 33800000", "the smallest subnormal half, 2^-24"),
        ("7c00 7f800000", "+inf"),
        ("477ff000 7c00", "the overflow midpoint 65520 rounds to inf"),
        ("33000000 0000", "2^-25 ties to even: zero"),
        ("33000001 0001", "just past 2^-25 rounds up"),
    ] {
        assert!(
            software.lines().any(|l| l == line),
            "expected \"{line}\" ({why})"
        );
    }
}
