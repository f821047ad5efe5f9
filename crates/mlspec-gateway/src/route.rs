//! Which package answers a request.
//!
//! The **primary** package answers by default. With a **canary**, a share of requests (in
//! hundredths of a percent) goes to it instead: the request's key — the `x-mlspec-route`
//! header when present, else the client's address — is hashed into 10,000 buckets, and the
//! buckets below the share go to the canary, so one client (or one session key) always lands on
//! the same package while the share holds, and raising the share only moves more keys over.
//! The header's values `primary` and `canary` choose the route outright. In **shadow** mode the
//! primary answers every request and the canary gets a copy whose answer is logged and dropped.
//!
//! The table is replaced whole (a rollout step, a promotion, a rollback) and read with one
//! short read lock (a clone of an `Arc`) per request.

use std::hash::BuildHasher as _;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use mlspec_attest::log::{Binding, BindingId};

use crate::upstream::{Address, Health};

/// The route a request took, as the log and the metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// The package in service.
    Primary = 0,
    /// The package being rolled out.
    Canary = 1,
    /// A mirrored copy whose answer nobody sees.
    Shadow = 2,
}

impl Route {
    /// How many routes there are.
    pub const COUNT: usize = 3;

    /// Its name in logs, metrics and reports.
    pub fn name(self) -> &'static str {
        match self {
            Route::Primary => "primary",
            Route::Canary => "canary",
            Route::Shadow => "shadow",
        }
    }
}

/// A package and the server that answers for it.
pub struct Arm {
    /// The package's reference in the store (`ModelPackage/churn@1.0.0`).
    pub package: String,
    /// What its log lines are bound to.
    pub binding: Binding,
    /// Its id in the log writer.
    pub binding_id: BindingId,
    /// Where its server answers.
    pub upstream: Address,
    /// Whether that server is up.
    pub health: Arc<Health>,
}

/// How the canary takes part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryMode {
    /// It answers its share of requests.
    Split,
    /// It gets copies of every request; its answers are dropped.
    Shadow,
}

/// The canary and its share.
#[derive(Clone)]
pub struct Canary {
    /// The package rolled out.
    pub arm: Arc<Arm>,
    /// Hundredths of a percent of requests it answers (0–10,000), in split mode.
    pub basis_points: u32,
    /// Split or shadow.
    pub mode: CanaryMode,
}

/// The routing table.
#[derive(Clone)]
pub struct Routes {
    /// The package in service.
    pub primary: Arc<Arm>,
    /// The package rolled out, if any.
    pub canary: Option<Canary>,
}

/// What a request does: the arm that answers it, and the arm that gets a shadow copy.
pub struct Choice {
    /// Who answers.
    pub arm: Arc<Arm>,
    /// Its route.
    pub route: Route,
    /// Who gets a copy, in shadow mode.
    pub shadow: Option<Arc<Arm>>,
}

impl Routes {
    /// Chooses for a request with this `x-mlspec-route` header and client address.
    pub fn choose(&self, header: Option<&[u8]>, client: Option<IpAddr>) -> Choice {
        let primary = || Choice {
            arm: self.primary.clone(),
            route: Route::Primary,
            shadow: None,
        };
        let Some(canary) = &self.canary else {
            return primary();
        };
        if canary.mode == CanaryMode::Shadow {
            return Choice {
                shadow: Some(canary.arm.clone()),
                ..primary()
            };
        }
        let to_canary = match header {
            Some(b"canary") => true,
            Some(b"primary") => false,
            Some(key) => bucket(key) < canary.basis_points,
            None => client.is_some_and(|ip| bucket(&ip_bytes(ip)) < canary.basis_points),
        };
        match to_canary {
            true => Choice {
                arm: canary.arm.clone(),
                route: Route::Canary,
                shadow: None,
            },
            false => primary(),
        }
    }

    /// The canary's share in percent (0 without one, or in shadow mode).
    pub fn canary_percent(&self) -> f64 {
        self.canary
            .as_ref()
            .filter(|c| c.mode == CanaryMode::Split)
            .map_or(0.0, |c| f64::from(c.basis_points) / 100.0)
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// A key's bucket in 0..10,000 (a fixed hash: the same key lands in the same bucket in every
/// gateway and every run).
fn bucket(key: &[u8]) -> u32 {
    (foldhash::fast::FixedState::with_seed(0x6d6c_7370_6563).hash_one(key) % 10_000) as u32
}

/// The table, swapped whole.
pub struct Table {
    current: RwLock<Arc<Routes>>,
}

impl Table {
    /// A table starting with `routes`.
    pub fn new(routes: Routes) -> Table {
        Table {
            current: RwLock::new(Arc::new(routes)),
        }
    }

    /// The routes now.
    pub fn get(&self) -> Arc<Routes> {
        match self.current.read() {
            Ok(routes) => routes.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the routes.
    pub fn set(&self, routes: Routes) {
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(routes),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(routes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn arm(name: &str) -> Arc<Arm> {
        Arc::new(Arm {
            package: format!("ModelPackage/{name}"),
            binding: Binding {
                model: name.into(),
                package: String::new(),
                pipeline: String::new(),
                data: String::new(),
            },
            binding_id: BindingId::FIRST,
            upstream: Address::parse("http://127.0.0.1:1").unwrap(),
            health: Arc::new(Health::new()),
        })
    }

    fn routes_at(basis_points: u32, mode: CanaryMode) -> Routes {
        Routes {
            primary: arm("a"),
            canary: Some(Canary {
                arm: arm("b"),
                basis_points,
                mode,
            }),
        }
    }

    #[test]
    fn a_share_of_keys_goes_to_the_canary_and_each_key_always_lands_on_the_same_route() {
        let routes = routes_at(1_000, CanaryMode::Split);
        let keys: Vec<String> = (0..20_000).map(|i| format!("session-{i}")).collect();
        let canary = keys
            .iter()
            .filter(|k| routes.choose(Some(k.as_bytes()), None).route == Route::Canary)
            .count();
        assert!((1_800..2_200).contains(&canary), "{canary} of 20000 at 10%");
        for key in keys.iter().take(100) {
            let first = routes.choose(Some(key.as_bytes()), None).route;
            assert_eq!(routes.choose(Some(key.as_bytes()), None).route, first);
            // Raising the share never moves a key back to the primary.
            if first == Route::Canary {
                assert_eq!(
                    routes_at(5_000, CanaryMode::Split)
                        .choose(Some(key.as_bytes()), None)
                        .route,
                    Route::Canary
                );
            }
        }
        let client = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)));
        assert_eq!(routes.choose(None, client).route, routes.choose(None, client).route);
    }

    #[test]
    fn the_header_can_name_the_route_and_shadow_mode_mirrors_to_the_canary() {
        let split = routes_at(0, CanaryMode::Split);
        assert_eq!(split.choose(Some(b"canary"), None).route, Route::Canary);
        assert_eq!(
            routes_at(10_000, CanaryMode::Split)
                .choose(Some(b"primary"), None)
                .route,
            Route::Primary
        );
        let shadow = routes_at(10_000, CanaryMode::Shadow).choose(Some(b"canary"), None);
        assert_eq!(shadow.route, Route::Primary);
        assert_eq!(
            shadow.shadow.map(|a| a.package.clone()).as_deref(),
            Some("ModelPackage/b")
        );
        assert_eq!(routes_at(2_550, CanaryMode::Split).canary_percent(), 25.5);
        assert_eq!(routes_at(2_550, CanaryMode::Shadow).canary_percent(), 0.0);
    }
}
