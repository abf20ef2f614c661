//! Expressions as text: SMT-LIB terms (of the value, and of the value as a condition) and C.

use std::fmt::Write as _;

use super::{smt_name, Expr, Op};

impl Expr {
    /// The SMT-LIB term of the value (an Int). `/` and `%` are SMT's `div` and `mod`, which agree
    /// with C's where the dividend is non-negative and the divisor positive: the obligations'
    /// `div` goals require that of every division (see `divisions`).
    pub fn smt(&self) -> String {
        if self.is_bool() {
            return format!("(ite {} 1 0)", self.smt_bool());
        }
        match self {
            Expr::Num(v) if *v < 0 => format!("(- {})", i128::from(*v).unsigned_abs()),
            Expr::Num(v) => v.to_string(),
            Expr::Sym(s) => smt_name(s),
            Expr::Neg(a) => format!("(- {})", a.smt()),
            Expr::Ite(c, a, b) => format!("(ite {} {} {})", c.smt_bool(), a.smt(), b.smt()),
            Expr::Min(a, b) => {
                let (x, y) = (a.smt(), b.smt());
                format!("(ite (< {x} {y}) {x} {y})")
            }
            Expr::Bin(op, a, b) => {
                let (x, y) = (a.smt(), b.smt());
                match op {
                    Op::Add => format!("(+ {x} {y})"),
                    Op::Sub => format!("(- {x} {y})"),
                    Op::Mul => format!("(* {x} {y})"),
                    Op::Div => format!("(div {x} {y})"),
                    Op::Mod => format!("(mod {x} {y})"),
                    Op::AndMask => {
                        let Expr::Num(m) = **b else {
                            unreachable!("parse checks masks")
                        };
                        format!("(- {x} (mod {x} {}))", 1i128 << m.trailing_zeros())
                    }
                    _ => unreachable!("boolean ops are handled above"),
                }
            }
            Expr::Not(_) => unreachable!("boolean"),
        }
    }

    /// The SMT-LIB term of the value as a condition (C: non-zero is true).
    pub fn smt_bool(&self) -> String {
        match self {
            Expr::Not(a) => format!("(not {})", a.smt_bool()),
            Expr::Bin(op, a, b) if op.is_bool() => {
                let w = match op {
                    Op::And => return format!("(and {} {})", a.smt_bool(), b.smt_bool()),
                    Op::Or => return format!("(or {} {})", a.smt_bool(), b.smt_bool()),
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Eq => "=",
                    Op::Ne => return format!("(not (= {} {}))", a.smt(), b.smt()),
                    _ => unreachable!("comparison"),
                };
                format!("({w} {} {})", a.smt(), b.smt())
            }
            Expr::Num(v) => (*v != 0).to_string(),
            _ => format!("(not (= {} 0))", self.smt()),
        }
    }

    /// C source text (for messages and certificates).
    pub fn c(&self) -> String {
        let mut s = String::new();
        self.write_c(&mut s);
        s
    }

    fn write_c(&self, s: &mut String) {
        match self {
            Expr::Num(v) => {
                let _ = write!(s, "{v}");
            }
            Expr::Sym(x) => s.push_str(x),
            Expr::Neg(a) => {
                s.push_str("-(");
                a.write_c(s);
                s.push(')');
            }
            Expr::Not(a) => {
                s.push_str("!(");
                a.write_c(s);
                s.push(')');
            }
            Expr::Ite(c, a, b) => {
                s.push('(');
                c.write_c(s);
                s.push_str(" ? ");
                a.write_c(s);
                s.push_str(" : ");
                b.write_c(s);
                s.push(')');
            }
            Expr::Min(a, b) => {
                s.push_str("tg_min(");
                a.write_c(s);
                s.push_str(", ");
                b.write_c(s);
                s.push(')');
            }
            Expr::Bin(op, a, b) => {
                let w = match op {
                    Op::Add => "+",
                    Op::Sub => "-",
                    Op::Mul => "*",
                    Op::Div => "/",
                    Op::Mod => "%",
                    Op::AndMask => "&",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Eq => "==",
                    Op::Ne => "!=",
                    Op::And => "&&",
                    Op::Or => "||",
                };
                s.push('(');
                a.write_c(s);
                let _ = write!(s, " {w} ");
                b.write_c(s);
                s.push(')');
            }
        }
    }
}
