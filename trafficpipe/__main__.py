import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the package itself imports
    sys.stderr.write("trafficpipe: interrupted\n")
    sys.exit(130)

if __name__ == "__main__":  # not when a spawned worker process (multiprocessing) re-imports the main module
    sys.exit(main())
