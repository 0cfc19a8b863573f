//! The token meters' dimension has one writer, the gateway's
//! `crds::gateway::token_dimension`, and one reader, metering's
//! `metering::tokens::parse`, which cannot see each other (metering may not
//! depend on crds): this crate sees both and checks that they agree.

use crds::gateway::token_dimension;
use metering::tokens;
use proptest::prelude::*;
use uuid::Uuid;

#[test]
fn what_the_gateway_writes_metering_reads_back() {
    for model in ["org/model", "meta-llama/Llama-3.1-8B-Instruct", "m"] {
        let key = Uuid::now_v7();
        let dimension = token_dimension(key, model);
        let read = tokens::parse(&dimension).unwrap();
        assert_eq!((read.key_id, read.model), (key, model));
        assert_eq!(tokens::model_of(&dimension), model);
    }
}

proptest! {
    #[test]
    fn any_key_and_model_without_control_characters_round_trip(
        key in any::<u128>(),
        model in "[^\\p{Cc}]{1,100}",
    ) {
        let key = Uuid::from_u128(key);
        let dimension = token_dimension(key, &model);
        let read = tokens::parse(&dimension).unwrap();
        prop_assert_eq!(read.key_id, key);
        prop_assert_eq!(read.model, model.as_str());
    }
}
