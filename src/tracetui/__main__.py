from .launch import main

# Guarded: worker processes (parallel import) re-import the main module.
if __name__ == "__main__":
    main()
