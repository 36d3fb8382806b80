use abi_stable::library::lib_header_from_path;
use whisk_spi::abi::PluginModRef;
fn main() {
    let p = std::env::args().nth(1).unwrap();
    let t = std::time::Instant::now();
    let m = lib_header_from_path(p.as_ref())
        .unwrap()
        .init_root_module::<PluginModRef>()
        .unwrap();
    println!("{:?} in {:?}", m.metadata()(), t.elapsed());
    let lb = m.new_load_balancer()("".into()).unwrap();
    println!("{:?}", lb.active());
    println!("{:?}", m.new_authenticator()("".into()).into_result().err());
    println!(
        "{:?}",
        m.new_load_balancer()("x = 1".into()).into_result().err()
    );
}
