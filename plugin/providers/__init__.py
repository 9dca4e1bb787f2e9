"""Provider interfaces: speech-to-text, language model and CRM. One small ABC each; cloud and
local implementations live beside the domain code that owns them and are chosen by settings."""
