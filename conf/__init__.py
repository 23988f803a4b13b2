"""The Hydra configs of the steeltwin apps, shipped as a package so Hydra finds them with
``pkg://steeltwin.conf`` wherever steeltwin is installed."""
