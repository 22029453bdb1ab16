mod fixtures;
mod properties;
mod rules;
