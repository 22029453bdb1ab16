mod fixtures;
mod properties;
mod pull;
mod rules;
