"""The cold path: what runs only after a cache miss, to mint a token (google-auth, STS, IAM,
subject tokens), each kind of source in its own module as google-auth names them."""
