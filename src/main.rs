fn main() {
    println!("orgsync");
}
